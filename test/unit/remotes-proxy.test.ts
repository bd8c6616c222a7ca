import { describe, expect, it } from 'vitest';
import { noProxyMatches, proxyAuthorization, proxyConfigFromEnv, proxyFor, type ProxyConfig } from '../../src/remotes/http-proxy';

// Which requests go through a proxy, as Go's http.ProxyFromEnvironment decides.

const cfg: ProxyConfig = { httpProxy: 'proxy.example:3128', httpsProxy: 'http://u:p%40ss@secure-proxy.example:8080', noProxy: 'internal.example,.corp.example,10.0.0.0/8,[::2],192.168.1.1,reg.example:5000' };
const via = (url: string, c: ProxyConfig = cfg): string | undefined => proxyFor(new URL(url), c)?.href;

describe('proxyFor', () => {
  it('http and https pick their own proxy; a bare host:port is http', () => {
    expect(via('http://registry.example/v2/')).toBe('http://proxy.example:3128/');
    expect(via('https://registry.example/v2/')).toBe('http://u:p%40ss@secure-proxy.example:8080/');
    expect(via('https://registry.example/v2/', { httpProxy: 'x:1' })).toBeUndefined();
  });
  it('never for localhost or loopback', () => {
    for (const u of ['http://localhost:5000/', 'http://a.localhost/', 'http://127.0.0.1:5000/', 'http://127.9.9.9/', 'http://[::1]:5000/']) expect(via(u), u).toBeUndefined();
  });
  it('NO_PROXY: names with subdomains, .suffix for subdomains only, CIDRs, IPs, ports', () => {
    expect(via('https://internal.example/')).toBeUndefined();
    expect(via('https://a.internal.example/')).toBeUndefined();
    expect(via('https://corp.example/')).toBeDefined();
    expect(via('https://x.corp.example/')).toBeUndefined();
    expect(via('http://10.1.2.3:5000/')).toBeUndefined();
    expect(via('http://11.1.2.3/')).toBeDefined();
    expect(via('http://[::2]/')).toBeUndefined();
    expect(via('http://192.168.1.1/')).toBeUndefined();
    expect(via('http://reg.example:5000/')).toBeUndefined();
    expect(via('http://reg.example:5001/')).toBeDefined();
    expect(noProxyMatches('*', 'anything', '80')).toBe(true);
    expect(noProxyMatches('', 'anything', '80')).toBe(false);
  });
  it('from the environment, upper case first; proxy credentials', () => {
    expect(proxyConfigFromEnv({ HTTP_PROXY: 'a:1', https_proxy: 'b:2', no_proxy: 'c' })).toEqual({ httpProxy: 'a:1', httpsProxy: 'b:2', noProxy: 'c' });
    expect(proxyConfigFromEnv({ HTTPS_PROXY: 'B:1', https_proxy: 'b:2' }).httpsProxy).toBe('B:1');
    expect(proxyConfigFromEnv({})).toEqual({});
    expect(proxyAuthorization(new URL('http://u:p%40ss@h:1'))).toBe(`Basic ${Buffer.from('u:p@ss').toString('base64')}`);
    expect(proxyAuthorization(new URL('http://h:1'))).toBeUndefined();
  });
});
