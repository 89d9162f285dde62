import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deviceLabel, timeAgo } from '../src/pages/device-label.js';
import { escapeHtml, html } from '../src/pages/html.js';
import { safeNextPath } from '../src/pages/next-path.js';

describe('safeNextPath (no open redirect)', () => {
  it('keeps local paths with their query and fragment', () => {
    assert.equal(safeNextPath('/profile'), '/profile');
    assert.equal(safeNextPath('/sessions?tab=all#top'), '/sessions?tab=all#top');
    assert.equal(safeNextPath('/a/../profile'), '/profile');
  });

  it('refuses everything that could leave the site', () => {
    for (const next of [
      '//evil.example',
      '//evil.example/path',
      '/\\evil.example',
      '\\\\evil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      'https://evil.example/',
      'http:evil.example',
      'javascript:alert(1)',
      'evil.example',
      '',
      '/'.repeat(3000),
    ]) {
      assert.equal(safeNextPath(next), '/', JSON.stringify(next));
    }
    assert.equal(safeNextPath(undefined), '/');
    assert.equal(safeNextPath(['/profile']), '/');
    assert.equal(safeNextPath({ toString: () => '/profile' }), '/');
  });

  it('checks the normalised path too: dot segments that resolve to "//host" are refused', () => {
    for (const next of ['/.//evil.com', '/..//evil.com/x', '/%2e//evil.com', '/a/..//evil.com', '/%2e%2e//evil.com', '/a/%2e%2e//evil.com?x#y']) {
      assert.equal(safeNextPath(next), '/', JSON.stringify(next));
    }
    // Harmless dot segments still resolve to a local path.
    assert.equal(safeNextPath('/a/./b/../profile'), '/a/profile');
  });

  it('never sends back to the sign-in pages', () => {
    assert.equal(safeNextPath('/login?next=/x'), '/');
    assert.equal(safeNextPath('/register'), '/');
  });
});

describe('html templates', () => {
  it('escape every interpolated value', () => {
    const name = `<script>alert("x")</script>&'`;
    assert.equal(html`<p title="${name}">${name}</p>`.value, `<p title="${escapeHtml(name)}">${escapeHtml(name)}</p>`);
    assert.ok(!html`${name}`.value.includes('<script>'));
  });

  it('nest markup, lists, and drop empty values', () => {
    const items = ['a<', 'b'].map((item) => html`<li>${item}</li>`);
    assert.equal(html`<ul>${items}</ul>${null}${undefined}${false}${0}`.value, '<ul><li>a&lt;</li><li>b</li></ul>0');
  });
});

describe('device list labels', () => {
  it('names common browsers and systems', () => {
    assert.equal(
      deviceLabel('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'),
      'Chrome on Linux',
    );
    assert.equal(deviceLabel('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0'), 'Firefox on Windows');
    assert.equal(deviceLabel('curl/8.5.0'), 'curl');
    assert.equal(deviceLabel(null), 'Unknown device');
  });

  it('says how long ago', () => {
    const now = Date.UTC(2026, 0, 2);
    assert.equal(timeAgo(now - 10_000, now), 'just now');
    assert.equal(timeAgo(now - 60_000, now), '1 minute ago');
    assert.equal(timeAgo(now - 3 * 3_600_000, now), '3 hours ago');
    assert.equal(timeAgo(now - 2 * 86_400_000, now), '2 days ago');
  });
});
