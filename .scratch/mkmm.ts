import * as fs from 'node:fs';
import { buildMatMulGraph } from '../src/engine/graph';
fs.writeFileSync('/tmp/mm.onnx', buildMatMulGraph());
