// tests/bench/engine_alsf.mjs: the aws-local-stepfunctions side of tests/bench/engine.sh.
// usage: node engine_alsf.mjs MODULE_DIR WORKLOADS_JSON WORKLOAD N MIN_SECONDS
// Runs the workload once to warm up, then repeatedly until MIN_SECONDS have passed,
// and prints one JSON line {"side","workload","count","seconds","rate"} as bench_engine does.
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';

const [moduleDir, workloadsPath, workload, nArg, minArg] = process.argv.slice(2);
const { StateMachine } = await import(pathToFileURL(`${moduleDir}/build/main.node.esm.js`).href);
const workloads = JSON.parse(readFileSync(workloadsPath, 'utf8'));
const n = Number(nArg);
const minSeconds = Number(minArg);
const sm = new StateMachine(workloads[workload].definition, {
  validationOptions: { checkArn: false },
});

async function once() {
  if (workload === 'loop') {
    const out = await sm.run({ i: 0, n }).result;
    if (out.i !== n) throw new Error(`loop ended at ${JSON.stringify(out)}`);
    return 2 * n + 1; // n rounds of Add + Check, then Done
  }
  if (workload === 'map') {
    const items = Array.from({ length: n }, (_, i) => i);
    const out = await sm.run({ items }).result;
    if (!Array.isArray(out) || out.length !== n || out[n - 1] !== n - 1)
      throw new Error('map output is wrong');
    return n;
  }
  if (workload === 'exec') {
    for (let k = 0; k < n; k++) {
      const out = await sm.run({ k }).result;
      if (out.k !== k) throw new Error('exec output is wrong');
    }
    return n;
  }
  throw new Error(`unknown workload ${workload}`);
}

await once();
let count = 0;
const t0 = process.hrtime.bigint();
let seconds = 0;
do {
  count += await once();
  seconds = Number(process.hrtime.bigint() - t0) / 1e9;
} while (seconds < minSeconds);
console.log(JSON.stringify({ side: 'aws-local-stepfunctions', workload, count, seconds, rate: count / seconds }));
