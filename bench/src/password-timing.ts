// Does "unknown account" take as long as "wrong password"? Measures 200
// verifyUnknown() against 200 verify()-with-a-wrong-password, interleaved in a
// random order per pair (so drift of the machine hits both alike), and
// compares the difference of medians with the noise: an A/A split of the same
// series and a bootstrap confidence interval.
//
//   npx tsc -p bench/tsconfig.json && node bench/dist/src/password-timing.js [rounds]
//
// It only prints; no assertion, because timings on a shared machine are not a
// pass/fail signal. The figures go into the report / BENCHMARKS.md.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { PasswordHasher } from 'keycard/password';

const rounds = Number(process.argv[2] ?? 200);
const warmup = 20;

function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const a = sorted[lower] ?? Number.NaN;
  const b = sorted[upper] ?? Number.NaN;
  return a + (b - a) * (position - lower);
}

function median(values: readonly number[]): number {
  return quantile([...values].sort((x, y) => x - y), 0.5);
}

function summary(values: readonly number[]) {
  const sorted = [...values].sort((x, y) => x - y);
  const med = quantile(sorted, 0.5);
  const mad = median(sorted.map((v) => Math.abs(v - med)));
  return { median: med, p95: quantile(sorted, 0.95), min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN, mad };
}

/** 95% interval of median(a) - median(b) from resampling both series. */
function bootstrapDifference(a: readonly number[], b: readonly number[], resamples = 2000): [number, number] {
  const pick = (values: readonly number[]) => Array.from(values, () => values[Math.floor(Math.random() * values.length)] ?? 0);
  const differences = Array.from({ length: resamples }, () => median(pick(a)) - median(pick(b))).sort((x, y) => x - y);
  return [quantile(differences, 0.025), quantile(differences, 0.975)];
}

function wrongPassword(): string {
  return randomBytes(15).toString('base64url'); // 20 characters, like the real one
}

const hasher = new PasswordHasher();
const stored = await hasher.hash('correct-horse-bat');

async function time(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

for (let i = 0; i < warmup; i++) {
  await hasher.verifyUnknown(wrongPassword());
  await hasher.verify(stored, wrongPassword());
}

const unknown: number[] = [];
const wrong: number[] = [];
for (let i = 0; i < rounds; i++) {
  const first = Math.random() < 0.5;
  const measureUnknown = async () => unknown.push(await time(() => hasher.verifyUnknown(wrongPassword())));
  const measureWrong = async () => wrong.push(await time(() => hasher.verify(stored, wrongPassword())));
  if (first) {
    await measureUnknown();
    await measureWrong();
  } else {
    await measureWrong();
    await measureUnknown();
  }
}

// The same series split in two (even and odd rounds): how far apart two
// medians of one and the same operation land by chance.
const aaDifference = Math.abs(median(wrong.filter((_, i) => i % 2 === 0)) - median(wrong.filter((_, i) => i % 2 === 1)));
const u = summary(unknown);
const w = summary(wrong);
const difference = u.median - w.median;
const [low, high] = bootstrapDifference(unknown, wrong);

const ms = (value: number) => `${value.toFixed(2)} ms`.padStart(10);
console.log(`password timing: ${rounds} rounds each, interleaved, argon2id m=${hasher.parameters.memoryCost} t=${hasher.parameters.timeCost} p=${hasher.parameters.parallelism}`);
console.log(`${''.padEnd(16)}${'median'.padStart(10)}${'p95'.padStart(10)}${'min'.padStart(10)}${'max'.padStart(10)}${'MAD'.padStart(10)}`);
for (const [name, s] of [['unknown email', u], ['wrong password', w]] as const) {
  console.log(`${name.padEnd(16)}${ms(s.median)}${ms(s.p95)}${ms(s.min)}${ms(s.max)}${ms(s.mad)}`);
}
console.log(`difference of medians (unknown - wrong): ${difference.toFixed(3)} ms (${((100 * difference) / w.median).toFixed(2)}% of the median)`);
console.log(`  95% bootstrap interval: [${low.toFixed(3)}, ${high.toFixed(3)}] ms ${low <= 0 && high >= 0 ? '(contains 0: no difference detected)' : '(excludes 0)'}`);
console.log(`  noise: A/A split of "wrong password" differs by ${aaDifference.toFixed(3)} ms; MAD ${w.mad.toFixed(3)} ms`);
console.log(`  difference / MAD = ${(Math.abs(difference) / w.mad).toFixed(2)}; difference / A-A = ${(Math.abs(difference) / aaDifference).toFixed(2)}`);

// For scale: what an unprotected "return 401 at once" path looks like.
const naive = summary(Array.from({ length: rounds }, () => {
  const started = performance.now();
  void wrongPassword();
  return performance.now() - started;
}));
console.log(`without a dummy verification, "unknown email" would answer in ~${naive.median.toFixed(3)} ms instead of ${u.median.toFixed(1)} ms`);
await hasher.close();
