// critest (cri-tools' CRI validation suite) run inside a CRI test environment against one
// daemon's CRI endpoint, with its per-spec results read from ginkgo's JUnit report.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unixEndpoint, type CriEnv } from './cri-env';
import { criTools } from './cri-tools';
import { stopChild } from './process';

export type SpecState = 'passed' | 'failed' | 'skipped';

export interface CritestSpec {
  /** The spec's full text as ginkgo reports it, without the "[It] " node prefix. */
  name: string;
  /** critest's top-level group ("PodSandbox", "Container", "Image Manager", …). */
  group: string;
  state: SpecState;
  /** ginkgo's own status (passed, failed, skipped, pending, panicked, timedout, …). */
  status: string;
  seconds: number;
  /** The failure or skip message, when there is one. */
  message?: string;
}

export interface CritestResult {
  specs: CritestSpec[];
  passed: string[];
  failed: string[];
  skipped: string[];
  /** Suite-level nodes that failed (BeforeSuite, AfterSuite…), with their messages. */
  suiteFailures: string[];
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** critest's (and ginkgo's) console output. */
  output: string;
  /** The JUnit report(s): the parallel run's, then the serial run's, then the retry's. */
  reportFiles: string[];
  /** Specs that failed and then passed when run again (retryFailed). */
  retried?: string[];
}

export interface CritestOptions {
  /** The daemon's CRI socket (path or unix:// URL); used for both services. */
  endpoint: string;
  /** ginkgo parallel nodes (critest runs itself under the ginkgo CLI when > 1). Default 1. */
  parallel?: number;
  /** ginkgo focus/skip regular expressions (critest adds its own skip of "benchmark"). */
  focus?: string[];
  skip?: string[];
  /**
   * Regular expressions of specs that cannot share the runtime with other nodes (those
   * that list every container): with parallel > 1 they are skipped in the parallel run and
   * run afterwards on one node, and the two reports are merged. Default: SERIAL_SPECS.
   */
  serial?: string[];
  /** Kill critest after this long (default 15 min). */
  timeoutMs?: number;
  /** ginkgo's own suite timeout (default a minute less than timeoutMs). */
  suiteTimeoutMs?: number;
  /** Directory for the report, critest's temp files and its test log dirs (created). */
  workDir: string;
  /**
   * Run the specs that failed once more, on one node, and count those that pass then as
   * passed (listed in CritestResult.retried, so a flaky spec stays visible). Under a loaded
   * machine containerd itself sometimes misses one (its OOM report raced in a CI run).
   */
  retryFailed?: boolean;
}

/** critest's top-level groups (framework.KubeDescribe texts), longest first so prefixes match the right one. */
const GROUPS = [
  'Container Mount Propagation',
  'Container Mount Readonly',
  'Container OOM',
  'Multiple Containers [Conformance]',
  'Security Context',
  'Image Manager',
  'Runtime info',
  'Idempotence',
  'PodSandbox',
  'Networking',
  'Streaming',
  'Container',
  'AppArmor',
  'SELinux',
  'Image',
];

/** The group of a spec's text ("[k8s.io] PodSandbox runtime should …" → "PodSandbox"). */
export function specGroup(name: string): string {
  const rest = name.replace(/^\[k8s\.io\]\s*/, '');
  for (const g of GROUPS) if (rest === g || rest.startsWith(g + ' ')) return g.replace(/ \[Conformance\]$/, '');
  return rest.split(' ')[0] ?? rest;
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-fA-F]+));/g, (_m, name: string, dec?: string, hex?: string) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' }[name] ?? _m;
  });
}

function attributes(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([\w:-]+)="([^"]*)"/g)) out[m[1]!] = unescapeXml(m[2]!);
  return out;
}

/**
 * Reads a ginkgo v2 JUnit report: every <testcase> whose name starts with "[It]" is a spec
 * (passed; skipped or pending; anything else failed); other nodes that failed
 * ([SynchronizedBeforeSuite], [ReportAfterSuite]…) are suite failures.
 */
export function parseJunitReport(xml: string): { specs: CritestSpec[]; suiteFailures: string[] } {
  const specs: CritestSpec[] = [];
  const suiteFailures: string[] = [];
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const attrs = attributes(m[1] ?? '');
    const body = m[3] ?? '';
    const rawName = attrs.name ?? '';
    const failure = /<(failure|error)\b([^>]*)>/.exec(body);
    const skipped = /<skipped\b([^>]*)\/?>/.exec(body);
    const status = attrs.status ?? (failure ? 'failed' : skipped ? 'skipped' : 'passed');
    const message = failure ? attributes(failure[2] ?? '').message : skipped ? attributes(skipped[1] ?? '').message : undefined;
    if (!rawName.startsWith('[It] ')) {
      if (status !== 'passed' && status !== 'skipped' && status !== 'pending') suiteFailures.push(`${rawName}: ${status}${message ? `: ${message}` : ''}`);
      continue;
    }
    const name = rawName.slice('[It] '.length).trim();
    const state: SpecState = status === 'passed' ? 'passed' : status === 'skipped' || status === 'pending' ? 'skipped' : 'failed';
    specs.push({ name, group: specGroup(name), state, status, seconds: Number(attrs.time ?? 0), message });
  }
  return { specs, suiteFailures };
}

/**
 * critest's specs that list the stats of every container in the runtime (a nil filter):
 * containerd 1.6 answers NotFound when a container another node is removing goes away
 * between its list and its metrics read, so they only pass alone.
 */
export const SERIAL_SPECS = ['when filter is nil'];

/**
 * Runs critest inside the environment against one endpoint (the specs in opts.serial on
 * one node after the others); never rejects because specs failed.
 */
export async function runCritest(env: CriEnv, opts: CritestOptions): Promise<CritestResult> {
  const first = await runCritestAll(env, opts);
  if (!opts.retryFailed || first.failed.length === 0 || first.timedOut) return first;
  const started = Date.now();
  const again = await runCritestOnce(env, {
    ...opts,
    parallel: 1,
    focus: first.failed.map((n) => escapeRegExp(n)),
    skip: [],
    timeoutMs: Math.max(60_000, (opts.timeoutMs ?? 15 * 60_000) / 2),
    suiteTimeoutMs: undefined,
    workDir: path.join(opts.workDir, 'retry'),
  });
  const passedNow = new Set(again.passed);
  const retried = first.failed.filter((n) => passedNow.has(n));
  const specs = first.specs.map((x) => (retried.includes(x.name) ? { ...x, state: 'passed' as const, status: 'passed on retry' } : x));
  return {
    ...first,
    specs,
    ...byState(specs),
    durationMs: first.durationMs + (Date.now() - started),
    output: `${first.output}\n----- failed specs run again -----\n${again.output}`,
    reportFiles: [...first.reportFiles, ...again.reportFiles],
    retried,
  };
}

/** The specs' names by state, each list sorted. */
function byState(specs: readonly CritestSpec[]): Pick<CritestResult, 'passed' | 'failed' | 'skipped'> {
  const names = (st: SpecState): string[] => specs.filter((x) => x.state === st).map((x) => x.name).sort();
  return { passed: names('passed'), failed: names('failed'), skipped: names('skipped') };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function runCritestAll(env: CriEnv, opts: CritestOptions): Promise<CritestResult> {
  const serial = opts.serial ?? SERIAL_SPECS;
  if ((opts.parallel ?? 1) <= 1 || serial.length === 0) return runCritestOnce(env, opts);
  const started = Date.now();
  const many = await runCritestOnce(env, { ...opts, skip: [...(opts.skip ?? []), ...serial], workDir: path.join(opts.workDir, 'parallel') });
  const left = Math.max(60_000, (opts.timeoutMs ?? 15 * 60_000) - (Date.now() - started));
  const one = await runCritestOnce(env, { ...opts, parallel: 1, focus: serial, timeoutMs: left, suiteTimeoutMs: undefined, workDir: path.join(opts.workDir, 'serial') });
  const isSerial = (name: string): boolean => serial.some((re) => new RegExp(re).test(name));
  const specs = [...many.specs.filter((x) => !isSerial(x.name)), ...one.specs.filter((x) => isSerial(x.name))];
  return {
    specs,
    ...byState(specs),
    suiteFailures: [...many.suiteFailures, ...one.suiteFailures],
    exitCode: many.exitCode !== 0 ? many.exitCode : one.exitCode,
    timedOut: many.timedOut || one.timedOut,
    durationMs: Date.now() - started,
    output: `${many.output}\n----- serial specs -----\n${one.output}`,
    reportFiles: [...many.reportFiles, ...one.reportFiles],
  };
}

async function runCritestOnce(env: CriEnv, opts: CritestOptions): Promise<CritestResult> {
  const tools = criTools();
  fs.mkdirSync(opts.workDir, { recursive: true });
  const tmpdir = path.join(opts.workDir, 'tmp');
  fs.mkdirSync(tmpdir, { recursive: true });
  const reportFile = path.join(opts.workDir, 'junit.xml');
  fs.rmSync(reportFile, { force: true });
  const timeoutMs = opts.timeoutMs ?? 15 * 60_000;
  const suiteTimeoutMs = opts.suiteTimeoutMs ?? Math.max(60_000, timeoutMs - 60_000);
  const endpoint = unixEndpoint(opts.endpoint);
  const args = [
    `-runtime-endpoint=${endpoint}`,
    `-image-endpoint=${endpoint}`,
    `-ginkgo.junit-report=${reportFile}`,
    '-ginkgo.no-color',
    `-ginkgo.timeout=${Math.round(suiteTimeoutMs / 1000)}s`,
  ];
  // critest v1.26 aborted on an explicit -parallel 1; give it only when > 1.
  if ((opts.parallel ?? 1) > 1) args.push(`-parallel=${opts.parallel}`);
  for (const f of opts.focus ?? []) args.push(`-ginkgo.focus=${f}`);
  for (const s of opts.skip ?? []) args.push(`-ginkgo.skip=${s}`);

  const started = Date.now();
  const p = env.spawn(tools.critest, args, {
    cwd: opts.workDir,
    env: {
      ...process.env,
      // critest runs `ginkgo` from PATH for -parallel, and ipcmk for its HostIpc spec.
      PATH: [path.dirname(tools.ginkgo), process.env.PATH ?? '', '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].filter(Boolean).join(':'),
      TMPDIR: tmpdir,
      HOME: opts.workDir,
    },
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stopChild(p, { timeoutMs: 10_000 });
  }, timeoutMs);
  const st = await p.exited;
  clearTimeout(timer);
  const durationMs = Date.now() - started;

  const xml = fs.existsSync(reportFile) ? fs.readFileSync(reportFile, 'utf8') : '';
  const { specs, suiteFailures } = parseJunitReport(xml);
  if (xml === '') suiteFailures.push(`no JUnit report written (critest exit ${st.code ?? st.signal}${timedOut ? ', timed out' : ''})`);
  return {
    specs,
    ...byState(specs),
    suiteFailures,
    exitCode: st.code,
    timedOut,
    durationMs,
    output: p.output(),
    reportFiles: fs.existsSync(reportFile) ? [reportFile] : [],
  };
}

/** What the critest ratchet holds a daemon to, relative to the reference run. */
export interface ParityRules {
  /** Specs the reference passes that the subject does not pass yet (may only shrink). */
  notYet: readonly string[];
  /**
   * Specs the subject must pass although the reference does not (behaviour later
   * containerd releases adopted, kept by berthd on purpose). Listed, so that losing one is
   * a failure like losing a spec the reference passes.
   */
  beyondReference: readonly string[];
}

/** Every way the subject's run breaks the rules, one line each; empty when it holds. */
export interface ParityProblems {
  /** Passes on the reference, not on the subject, and not in notYet. */
  missing: string[];
  /** In notYet, yet passes on the subject now (the list must shrink). */
  fixedButListed: string[];
  /** In beyondReference and not passed by the subject. */
  beyondLost: string[];
  /** In a list but not a spec of either run (renamed?), or listed twice, or in both lists. */
  badListing: string[];
}

/** The ratchet's verdict: what the subject run lacks against the reference run and the rules. */
export function parityProblems(reference: CritestResult, subject: CritestResult, rules: ParityRules): ParityProblems {
  const subjectPassed = new Set(subject.passed);
  const notYet = new Set(rules.notYet);
  const known = new Set([...reference.specs, ...subject.specs].map((s) => s.name));
  const badListing: string[] = [];
  for (const [name, list] of [['notYet', rules.notYet], ['beyondReference', rules.beyondReference]] as const) {
    for (const n of list) if (!known.has(n)) badListing.push(`${name}: not a critest spec: ${n}`);
    if (new Set(list).size !== list.length) badListing.push(`${name}: a spec listed twice`);
  }
  for (const n of rules.notYet) {
    if (!reference.passed.includes(n) && known.has(n)) badListing.push(`notYet: the reference does not pass it: ${n}`);
  }
  for (const n of rules.beyondReference) if (notYet.has(n)) badListing.push(`in both lists: ${n}`);
  return {
    missing: reference.passed.filter((n) => !subjectPassed.has(n) && !notYet.has(n)),
    fixedButListed: rules.notYet.filter((n) => subjectPassed.has(n)),
    beyondLost: rules.beyondReference.filter((n) => !subjectPassed.has(n)),
    badListing,
  };
}
