// browser.mjs drives Debian's chromium, headless, with playwright-core, for
// the dashboard's tests: one page, commands as JSON lines on stdin, one
// answer a line on stdout ({"ok": true, "result": ...} or {"ok": false,
// "error": ...}). It runs until stdin ends, then closes the browser and
// removes its profile. The machine has no network: nothing but the pages
// the test serves on 127.0.0.1 is reached.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mcptray-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = context.pages()[0] || await context.newPage();
page.on('dialog', (d) => d.accept()); // confirm(): the user says yes
const out = (m) => process.stdout.write(JSON.stringify(m) + '\n');

async function run(c) {
  const timeout = c.timeoutMs || 15000;
  switch (c.op) {
    case 'goto':
      await page.goto(c.url, { waitUntil: 'load', timeout });
      return page.url();
    case 'click':
      await page.click(c.selector, { timeout });
      return null;
    case 'clickNav': // a click that loads another page (a form's POST, a link)
      await Promise.all([page.waitForNavigation({ waitUntil: 'load', timeout }), page.click(c.selector, { timeout })]);
      return page.url();
    case 'fill':
      await page.fill(c.selector, c.value, { timeout });
      return null;
    case 'select':
      await page.selectOption(c.selector, c.value, { timeout });
      return null;
    case 'text':
      return await page.textContent(c.selector, { timeout });
    case 'waitText':
      await page.waitForFunction(([s, t]) => {
        const e = document.querySelector(s);
        return e !== null && e.textContent.includes(t);
      }, [c.selector, c.text], { timeout });
      return await page.textContent(c.selector);
    case 'waitSelector':
      await page.waitForSelector(c.selector, { timeout });
      return null;
    case 'waitURL':
      await page.waitForURL((u) => u.href.includes(c.text), { timeout });
      return page.url();
    case 'url':
      return page.url();
    case 'title':
      return await page.title();
    case 'eval':
      return await page.evaluate(c.js);
    case 'cookies':
      return await context.cookies();
    case 'screenshot':
      await page.screenshot({ path: c.path, fullPage: true });
      return null;
  }
  throw new Error('unknown op ' + c.op);
}

out({ ok: true, result: 'ready' });
for await (const line of readline.createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    out({ ok: true, result: await run(JSON.parse(line)) });
  } catch (e) {
    out({ ok: false, error: String((e && e.message) || e).split('\n')[0] });
  }
}
await context.close();
fs.rmSync(profile, { recursive: true, force: true });
