/**
 * Builds an ONNX ModelProto in memory: a graph of nodes, inline and external-data initializers,
 * typed inputs and outputs. Field numbers follow onnx/onnx.proto (IR 8, default opset 17).
 */
import { ProtoWriter } from './protobuf';

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** A dimension: a fixed size or a named dynamic axis (dim_param). */
export type Dim = number | string;

/** Node attribute values, tagged so ints and floats are never confused. */
export type AttrValue =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly s: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  /** A subgraph (If's branches), built with GraphBuilder.subgraph. */
  | { readonly graph: GraphBuilder };

/** Float32 tensor data kept outside the model file (ONNX external data). */
export interface ExternalTensor {
  /** Path of the data file relative to the model file's folder. */
  readonly location: string;
  /** Byte offset of the tensor's first element in that file. */
  readonly offset: number;
  readonly byteLength: number;
}

const IR_VERSION = 8;

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_GRAPH = 5;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
  readonly domain: string;
}

/** Collects a graph and serialises it; names are checked so a typo fails here, not inside ORT. */
export class GraphBuilder {
  private readonly nodes: NodeSpec[] = [];
  private readonly initializers: ProtoWriter[] = [];
  private readonly inputs: ProtoWriter[] = [];
  private readonly outputs: ProtoWriter[] = [];
  private readonly known = new Set<string>();
  /** Every name in the model: values are unique across a graph and its subgraphs (SSA). */
  private readonly allNames: Set<string>;
  private counter = 0;

  constructor(
    private readonly name: string,
    private readonly opset = 17,
    private readonly parent?: GraphBuilder,
  ) {
    this.allNames = parent ? parent.allNames : new Set<string>();
  }

  /**
   * A subgraph (a branch of If) that may read this graph's values by name (outer scope). Its
   * outputs are declared with `output`; pass it to a node as `{ graph }`.
   */
  subgraph(name: string): GraphBuilder {
    return new GraphBuilder(name, this.opset, this);
  }

  /** Declares a graph input. */
  input(name: string, type: DataTypeCode, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return this.define(name);
  }

  /** Declares a graph output: a value of this graph (a subgraph's outputs are its own nodes'). */
  output(name: string, type: DataTypeCode, dims: readonly Dim[]): void {
    if (!this.known.has(name)) throw new Error(`graph ${this.name}: output '${name}' is not produced by any node`);
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A float initializer whose bytes live in another file (external data). */
  external(name: string, dims: readonly number[], data: ExternalTensor): string {
    const expected = dims.reduce((a, b) => a * b, 1) * 4;
    if (expected !== data.byteLength) {
      throw new Error(`graph ${this.name}: initializer '${name}' has ${data.byteLength} bytes, shape [${dims.join(', ')}] needs ${expected}`);
    }
    const t = new ProtoWriter().packedVarints(1, dims).varint(2, DataType.FLOAT).string(8, name);
    for (const [key, value] of [
      ['location', data.location],
      ['offset', String(data.offset)],
      ['length', String(data.byteLength)],
    ]) {
      t.message(13, new ProtoWriter().string(1, key).string(2, value));
    }
    t.varint(14, 1); // data_location = EXTERNAL
    this.initializers.push(t);
    return this.define(name);
  }

  /** An inline float initializer. */
  floats(name: string, dims: readonly number[], values: Float32Array | readonly number[]): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push(new ProtoWriter().packedVarints(1, dims).varint(2, DataType.FLOAT).string(8, name).bytes(9, littleEndianCopy(raw)));
    return this.define(name);
  }

  /** An inline initializer of any type from its little-endian bytes (e.g. int8 weights). */
  raw(name: string, dims: readonly number[], type: DataTypeCode, bytes: Uint8Array): string {
    this.initializers.push(new ProtoWriter().packedVarints(1, dims).varint(2, type).string(8, name).bytes(9, bytes));
    return this.define(name);
  }

  /** An inline int64 initializer (shapes, axes, indices). */
  int64s(name: string, dims: readonly number[], values: readonly number[]): string {
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    this.initializers.push(new ProtoWriter().packedVarints(1, dims).varint(2, DataType.INT64).string(8, name).bytes(9, raw));
    return this.define(name);
  }

  /** A 1-D int64 constant with a generated name. */
  constInts(values: readonly number[]): string {
    return this.int64s(this.fresh('const'), [values.length], values);
  }

  /** A scalar float constant with a generated name. */
  constFloat(value: number): string {
    return this.floats(this.fresh('const'), [], [value]);
  }

  /** Adds a node; returns its output names. */
  node(op: string, inputs: readonly string[], outputCount = 1, attrs: Readonly<Record<string, AttrValue>> = {}, names?: readonly string[], domain = ''): string[] {
    for (const i of inputs) {
      if (i !== '' && !this.visible(i)) throw new Error(`graph ${this.name}: ${op} reads '${i}', which is not defined yet`);
    }
    const outputs = names ? [...names] : Array.from({ length: outputCount }, () => this.fresh(op));
    for (const o of outputs) this.define(o);
    this.nodes.push({ op, inputs, outputs, attrs, domain });
    return outputs;
  }

  /** Adds a single-output node; `name` fixes the output's name (for graph outputs). */
  op(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}, name?: string): string {
    return this.node(op, inputs, 1, attrs, name === undefined ? undefined : [name])[0];
  }

  /** Serialises the ModelProto. */
  build(): Uint8Array {
    if (this.parent) throw new Error(`graph ${this.name}: a subgraph is serialised as its node's attribute`);
    const graph = this.graphProto();
    const model = new ProtoWriter()
      .varint(1, IR_VERSION)
      .string(2, 'residual-lens')
      .string(3, '1')
      .message(7, graph)
      .message(8, new ProtoWriter().string(1, '').varint(2, this.opset));
    // Contrib ops (com.microsoft, e.g. MatMulIntegerToFloat) need their domain imported.
    if (this.usesDomain('com.microsoft')) model.message(8, new ProtoWriter().string(1, 'com.microsoft').varint(2, 1));
    return model.finish();
  }

  /** The GraphProto (also a subgraph attribute's value). */
  graphProto(): ProtoWriter {
    const graph = new ProtoWriter();
    this.nodes.forEach((n, idx) => graph.message(1, nodeProto(n, this.parent ? `${this.name}_${idx}` : String(idx))));
    graph.string(2, this.name);
    for (const t of this.initializers) graph.message(5, t);
    for (const i of this.inputs) graph.message(11, i);
    for (const o of this.outputs) graph.message(12, o);
    return graph;
  }

  private usesDomain(domain: string): boolean {
    return this.nodes.some((n) => n.domain === domain || Object.values(n.attrs).some((a) => 'graph' in a && a.graph.usesDomain(domain)));
  }

  /** Readable here: defined in this graph or in an enclosing one. */
  private visible(name: string): boolean {
    return this.known.has(name) || (this.parent?.visible(name) ?? false);
  }

  private define(name: string): string {
    if (this.allNames.has(name)) throw new Error(`graph ${this.name}: '${name}' is defined twice`);
    this.allNames.add(name);
    this.known.add(name);
    return name;
  }

  private fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.nextCount()}`;
    while (this.allNames.has(name));
    return name;
  }

  /** One counter per model, kept by the outermost graph. */
  private nextCount(): number {
    return this.parent ? this.parent.nextCount() : this.counter++;
  }
}

function nodeProto(n: NodeSpec, id: string): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.op}_${id}`).string(4, n.op);
  for (const [name, value] of Object.entries(n.attrs)) w.message(5, attributeProto(name, value));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function attributeProto(name: string, value: AttrValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if ('i' in value) return w.varint(3, value.i).varint(20, ATTR_INT);
  if ('f' in value) return w.float(2, value.f).varint(20, ATTR_FLOAT);
  if ('s' in value) return w.string(4, value.s).varint(20, ATTR_STRING);
  if ('ints' in value) return w.packedVarints(8, value.ints).varint(20, ATTR_INTS);
  if ('graph' in value) return w.message(6, value.graph.graphProto()).varint(20, ATTR_GRAPH);
  return w.packedFloats(7, value.floats).varint(20, ATTR_FLOATS);
}

function valueInfo(name: string, type: DataTypeCode, dims: readonly Dim[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) {
    shape.message(1, typeof d === 'number' ? new ProtoWriter().varint(1, d) : new ProtoWriter().string(2, d));
  }
  const tensorType = new ProtoWriter().varint(1, type).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

/** raw_data is little-endian; every platform ORT runs on here is too, so this is a plain copy. */
function littleEndianCopy(raw: Uint8Array): Uint8Array {
  return raw.slice();
}
