/**
 * The protobuf writer and the ONNX model builder, checked byte by byte and through a tiny
 * independent decoder written here from the protobuf wire-format spec.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProtoWriter } from '../../src/engine/onnx/protobuf';
import { DataType, GraphBuilder } from '../../src/engine/onnx/model';

type Field = { field: number; wire: number; value: bigint | Uint8Array | number };

/** Decodes one message level: (field, wire type, value) in order. */
function decode(bytes: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = bytes[at++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (at < bytes.length) {
    const tag = Number(varint());
    const field = tag >> 3;
    const wire = tag & 7;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 2) {
      const n = Number(varint());
      out.push({ field, wire, value: bytes.slice(at, at + n) });
      at += n;
    } else if (wire === 5) {
      out.push({ field, wire, value: new DataView(bytes.buffer, bytes.byteOffset + at, 4).getFloat32(0, true) });
      at += 4;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

const text = (v: Field['value']): string => new TextDecoder().decode(v as Uint8Array);
const sub = (fields: Field[], field: number): Field[][] => fields.filter((f) => f.field === field).map((f) => decode(f.value as Uint8Array));
const one = (fields: Field[], field: number): Field => {
  const found = fields.filter((f) => f.field === field);
  assert.equal(found.length, 1, `field ${field} appears ${found.length} times`);
  return found[0];
};

describe('ProtoWriter', () => {
  it('writes varints: small, multi-byte, above 2^32, and negative as 10 bytes', () => {
    assert.deepEqual([...new ProtoWriter().varint(1, 0).finish()], [0x08, 0x00]);
    assert.deepEqual([...new ProtoWriter().varint(1, 300).finish()], [0x08, 0xac, 0x02]);
    assert.deepEqual([...new ProtoWriter().varint(2, 2 ** 32).finish()], [0x10, 0x80, 0x80, 0x80, 0x80, 0x10]);
    assert.deepEqual([...new ProtoWriter().varint(1, -1).finish()], [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert.deepEqual([...new ProtoWriter().varint(1, -2n).finish()], [0x08, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert.deepEqual([...new ProtoWriter().varint(3, true).finish()], [0x18, 0x01]);
    assert.throws(() => new ProtoWriter().varint(1, 1.5), /must be an integer, got 1.5/);
  });

  it('writes floats little-endian, strings as UTF-8 with their byte length, packed varints and nested messages', () => {
    assert.deepEqual([...new ProtoWriter().float(2, 1e-5).finish()], [0x15, ...new Uint8Array(new Float32Array([1e-5]).buffer)]);
    assert.deepEqual([...new ProtoWriter().string(1, 'é').finish()], [0x0a, 0x02, 0xc3, 0xa9]);
    assert.deepEqual([...new ProtoWriter().packedVarints(1, [3, 270, -1]).finish()], [0x0a, 13, 0x03, 0x8e, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    const inner = new ProtoWriter().varint(1, 150);
    assert.deepEqual([...new ProtoWriter().message(3, inner).finish()], [0x1a, 0x03, 0x08, 0x96, 0x01]);
    const w = new ProtoWriter().varint(1, 1).string(2, 'ab').varint(3, 2);
    assert.equal(w.byteLength, 8);
    assert.deepEqual(decode(w.finish()).map((f) => f.field), [1, 2, 3]);
  });
});

describe('GraphBuilder', () => {
  it('serialises IR 8, opset 17, nodes with attributes, external and inline initializers, typed inputs and outputs', () => {
    const g = new GraphBuilder('test_graph');
    const x = g.input('x', DataType.FLOAT, ['rows', 4]);
    const w = g.external('w', [4, 2], { location: 'model.safetensors', offset: 1024, byteLength: 32 });
    const y = g.op('Gemm', [x, w], { transB: { i: 0 }, alpha: { f: 0.5 } });
    const axes = g.int64s('axes', [1], [-1]);
    g.op('ReduceSum', [y, axes], { keepdims: { i: 0 } }, 'out');
    g.output('out', DataType.FLOAT, ['rows']);
    const model = decode(g.build());
    assert.equal(one(model, 1).value, 8n);
    const [opset] = sub(model, 8);
    assert.equal(text(one(opset, 1).value), '');
    assert.equal(one(opset, 2).value, 17n);
    const [graph] = sub(model, 7);
    assert.equal(text(one(graph, 2).value), 'test_graph');

    const nodes = sub(graph, 1);
    assert.deepEqual(nodes.map((n) => text(one(n, 4).value)), ['Gemm', 'ReduceSum']);
    assert.deepEqual(nodes[0].filter((f) => f.field === 1).map((f) => text(f.value)), ['x', 'w']);
    const attrs = sub(nodes[0], 5);
    assert.deepEqual(attrs.map((a) => [text(one(a, 1).value), one(a, 20).value]), [['transB', 2n], ['alpha', 1n]]);
    assert.equal(one(attrs[1], 2).value, 0.5);
    assert.equal(text(nodes[1].filter((f) => f.field === 2)[0].value), 'out');

    const inits = sub(graph, 5);
    assert.equal(inits.length, 2);
    const ext = inits[0];
    assert.equal(text(one(ext, 8).value), 'w');
    assert.equal(one(ext, 2).value, 1n);
    assert.equal(one(ext, 14).value, 1n); // data_location = EXTERNAL
    assert.deepEqual([...(one(ext, 1).value as Uint8Array)], [4, 2]); // packed dims: two one-byte varints
    const entries = sub(ext, 13).map((e) => [text(one(e, 1).value), text(one(e, 2).value)]);
    assert.deepEqual(entries, [['location', 'model.safetensors'], ['offset', '1024'], ['length', '32']]);
    const inline = inits[1];
    assert.equal(one(inline, 2).value, 7n);
    assert.deepEqual([...new BigInt64Array((one(inline, 9).value as Uint8Array).slice().buffer)], [-1n]);

    const [input] = sub(graph, 11);
    assert.equal(text(one(input, 1).value), 'x');
    const [type] = sub(input, 2);
    const [tensorType] = sub(type, 1);
    assert.equal(one(tensorType, 1).value, 1n);
    const dims = sub(sub(tensorType, 2)[0], 1);
    assert.equal(text(one(dims[0], 2).value), 'rows');
    assert.equal(one(dims[1], 1).value, 4n);
    assert.equal(text(one(sub(graph, 12)[0], 1).value), 'out');
  });

  it('names the graph and the value in every construction mistake', () => {
    const g = new GraphBuilder('g');
    const x = g.input('x', DataType.FLOAT, [2]);
    assert.throws(() => g.op('Relu', ['nope']), { message: "graph g: Relu reads 'nope', which is not defined yet" });
    assert.throws(() => g.input('x', DataType.FLOAT, [2]), { message: "graph g: 'x' is defined twice" });
    assert.throws(() => g.output('y', DataType.FLOAT, [2]), { message: "graph g: output 'y' is not produced by any node" });
    assert.throws(() => g.external('w', [2, 3], { location: 'f', offset: 0, byteLength: 20 }), { message: "graph g: initializer 'w' has 20 bytes, shape [2, 3] needs 24" });
    assert.equal(g.op('Relu', [x]), 'Relu_0');
  });

  it('serialises a subgraph as a GRAPH attribute that reads the enclosing graph by name, names unique across both', () => {
    const g = new GraphBuilder('outer');
    const x = g.input('x', DataType.FLOAT, [2]);
    const cond = g.input('cond', DataType.BOOL, []);
    const branch = g.subgraph('branch');
    const y = branch.op('Relu', [x]); // outer-scope read
    branch.output(y, DataType.FLOAT, [2]);
    assert.throws(() => branch.input('x', DataType.FLOAT, [2]), { message: "graph branch: 'x' is defined twice" });
    assert.throws(() => g.op('Neg', [y]), { message: `graph outer: Neg reads '${y}', which is not defined yet` });
    assert.throws(() => branch.output(x, DataType.FLOAT, [2]), { message: "graph branch: output 'x' is not produced by any node" });
    const other = g.subgraph('other');
    const z = other.op('Neg', [x]);
    assert.notEqual(z, y); // fresh names come from one counter
    other.output(z, DataType.FLOAT, [2]);
    g.op('If', [cond], { then_branch: { graph: branch }, else_branch: { graph: other } }, 'out');
    g.output('out', DataType.FLOAT, [2]);
    assert.throws(() => branch.build(), { message: 'graph branch: a subgraph is serialised as its node\'s attribute' });

    const [graph] = sub(decode(g.build()), 7);
    const [ifNode] = sub(graph, 1);
    assert.equal(text(one(ifNode, 4).value), 'If');
    const attrs = sub(ifNode, 5);
    assert.deepEqual(attrs.map((a) => [text(one(a, 1).value), one(a, 20).value]), [['then_branch', 5n], ['else_branch', 5n]]);
    const [thenGraph] = sub(attrs[0], 6);
    assert.equal(text(one(thenGraph, 2).value), 'branch');
    const [relu] = sub(thenGraph, 1);
    assert.equal(text(one(relu, 4).value), 'Relu');
    assert.equal(text(one(relu, 1).value), 'x');
    assert.equal(text(one(sub(thenGraph, 12)[0], 1).value), y);
  });
});
