// critest's results as test/harness/cri-critest.ts reads them from ginkgo's JUnit report,
// and the CNI and registry host files test/harness/cri-env.ts writes.
import { describe, expect, it } from 'vitest';
import { parityProblems, parseJunitReport, specGroup, type CritestResult, type CritestSpec, type SpecState } from '../harness/cri-critest';
import { criCniConflist, loopbackHostsToml } from '../harness/cri-env';

// The shape ginkgo v2.25 writes (attributes escaped by Go's encoding/xml).
const REPORT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" disabled="0" errors="0" failures="2" time="12.5">
  <testsuite name="CRI validation" package="/x" tests="5" disabled="0" skipped="1" errors="0" failures="2" time="12.5">
    <testcase name="[BeforeSuite]" classname="CRI validation" status="passed" time="0.0002">
      <system-err>&gt; Enter [BeforeSuite]</system-err>
    </testcase>
    <testcase name="[It] [k8s.io] PodSandbox runtime should support basic operations on PodSandbox [Conformance]" classname="CRI validation" status="passed" time="1.5">
      <system-err>&gt; Enter [It]</system-err>
    </testcase>
    <testcase name="[It] [k8s.io] Container Mount Readonly runtime should support readonly mounts should support recursive readonly mounts" classname="CRI validation" status="skipped" time="3.5">
      <skipped message="skipped - runtime does not implement recursive readonly mounts"></skipped>
    </testcase>
    <testcase name="[It] [k8s.io] Idempotence StopContainer should not return an error if not found" classname="CRI validation" status="failed" time="0.01">
      <failure message="rpc error: code = NotFound desc = &#34;x&#34; not found &amp; gone" type="failed">[FAILED] …</failure>
    </testcase>
    <testcase name="[It] [k8s.io] Multiple Containers [Conformance] when running multiple containers in a pod should support container exec" classname="CRI validation" status="timedout" time="60"/>
    <testcase name="[SynchronizedAfterSuite]" classname="CRI validation" status="panicked" time="0">
      <error message="boom" type="panicked"></error>
    </testcase>
  </testsuite>
</testsuites>
`;

describe('parseJunitReport', () => {
  const { specs, suiteFailures } = parseJunitReport(REPORT);

  it('reads every [It] node as a spec, with its state, group, time and message', () => {
    expect(specs.map((s) => [s.state, s.status, s.group])).toEqual([
      ['passed', 'passed', 'PodSandbox'],
      ['skipped', 'skipped', 'Container Mount Readonly'],
      ['failed', 'failed', 'Idempotence'],
      ['failed', 'timedout', 'Multiple Containers'],
    ]);
    expect(specs[0]!.name).toBe('[k8s.io] PodSandbox runtime should support basic operations on PodSandbox [Conformance]');
    expect(specs[0]!.seconds).toBe(1.5);
    expect(specs[1]!.message).toBe('skipped - runtime does not implement recursive readonly mounts');
    expect(specs[2]!.message).toBe('rpc error: code = NotFound desc = "x" not found & gone');
  });

  it('keeps suite nodes out of the specs and reports the ones that failed', () => {
    expect(specs.some((s) => s.name.includes('Suite'))).toBe(false);
    expect(suiteFailures).toEqual(['[SynchronizedAfterSuite]: panicked: boom']);
  });

  it('finds nothing in an empty or truncated report', () => {
    expect(parseJunitReport('')).toEqual({ specs: [], suiteFailures: [] });
    expect(parseJunitReport('<testsuites><testsuite><testcase name="[It] x" status="passed"').specs).toEqual([]);
  });
});

describe('specGroup', () => {
  it("places a spec in critest's top-level group, the longest that matches", () => {
    expect(specGroup('[k8s.io] Container runtime should support basic operations on container')).toBe('Container');
    expect(specGroup('[k8s.io] Container Mount Propagation runtime should support mount propagation')).toBe('Container Mount Propagation');
    expect(specGroup('[k8s.io] Container OOM runtime should output OOMKilled reason')).toBe('Container OOM');
    expect(specGroup('[k8s.io] Image Manager listImage should get exactly 3 image in the result list [Conformance]')).toBe('Image Manager');
    expect(specGroup('[k8s.io] Runtime info runtime should support returning runtime info')).toBe('Runtime info');
    expect(specGroup('[k8s.io] Something New happens')).toBe('Something');
  });
});

describe('CRI environment files', () => {
  it('routes a host to the loopback registry over plain HTTP with no upstream fallback', () => {
    const t = loopbackHostsToml('127.0.0.1:5000');
    expect(t).toContain('server = "http://127.0.0.1:5000"');
    expect(t).toContain('[host."http://127.0.0.1:5000"]');
    expect(t).toContain('capabilities = ["pull", "resolve"]');
  });

  it('writes a bridge + portmap conflist on the private range without masquerade', () => {
    const c = JSON.parse(criCniConflist({ subnet: '198.18.0.0/16', bridge: 'berthcri0', dataDir: '/tmp/x/ipam' })) as {
      plugins: Array<Record<string, unknown> & { ipam?: Record<string, unknown> }>;
    };
    expect(c.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
    expect(c.plugins[0]!.ipMasq).toBe(false);
    expect(c.plugins[0]!.ipam).toMatchObject({ type: 'host-local', dataDir: '/tmp/x/ipam', ranges: [[{ subnet: '198.18.0.0/16' }]] });
    expect(c.plugins[1]!.capabilities).toEqual({ portMappings: true });
  });
});

/** A run whose specs have the given states (names A, B, …). */
function run(states: Record<string, SpecState>): CritestResult {
  const specs: CritestSpec[] = Object.entries(states).map(([name, state]) => ({ name, group: 'Idempotence', state, status: state, seconds: 0 }));
  const of = (st: SpecState): string[] => specs.filter((x) => x.state === st).map((x) => x.name);
  return { specs, passed: of('passed'), failed: of('failed'), skipped: of('skipped'), suiteFailures: [], exitCode: 0, timedOut: false, durationMs: 0, output: '', reportFiles: [] };
}

describe('parityProblems: the critest ratchet', () => {
  const reference = run({ A: 'passed', B: 'passed', C: 'failed', D: 'failed', E: 'skipped' });

  it('holds when the subject passes all the reference passes and the specs beyond it', () => {
    const p = parityProblems(reference, run({ A: 'passed', B: 'passed', C: 'passed', D: 'failed', E: 'skipped' }), { notYet: [], beyondReference: ['C'] });
    expect(p).toEqual({ missing: [], fixedButListed: [], beyondLost: [], badListing: [] });
  });

  it('fails when the subject stops passing a spec beyond the reference', () => {
    const p = parityProblems(reference, run({ A: 'passed', B: 'passed', C: 'failed', D: 'failed', E: 'skipped' }), { notYet: [], beyondReference: ['C'] });
    expect(p.beyondLost).toEqual(['C']);
    expect(p.missing).toEqual([]);
  });

  it('fails on a reference pass the subject lacks unless it is in the not-yet list, and on a listed spec that passes now', () => {
    const subject = run({ A: 'passed', B: 'failed', C: 'passed', D: 'failed', E: 'skipped' });
    expect(parityProblems(reference, subject, { notYet: [], beyondReference: ['C'] }).missing).toEqual(['B']);
    expect(parityProblems(reference, subject, { notYet: ['B'], beyondReference: ['C'] }).missing).toEqual([]);
    expect(parityProblems(reference, subject, { notYet: ['A'], beyondReference: [] }).fixedButListed).toEqual(['A']);
  });

  it('refuses lists naming unknown specs, a spec twice, one in both lists, or a not-yet spec the reference fails', () => {
    const subject = run({ A: 'passed', B: 'passed', C: 'passed', D: 'failed', E: 'skipped' });
    expect(parityProblems(reference, subject, { notYet: ['Z'], beyondReference: ['C', 'C'] }).badListing).toEqual([
      'notYet: not a critest spec: Z',
      'beyondReference: a spec listed twice',
    ]);
    expect(parityProblems(reference, subject, { notYet: ['D'], beyondReference: ['D'] }).badListing).toEqual(['notYet: the reference does not pass it: D', 'in both lists: D']);
  });
});
