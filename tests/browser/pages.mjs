// Drives Debian's chromium (playwright-core, no bundled browser) through verdict's pages
// on a server tests/it/web.rs started on a seeded store. Usage:
//   node pages.mjs BASE_URL SCREENSHOT_DIR ITEM FLAKY_TESTCASE SCRIPT_TESTCASE
// Every failed check is printed; the exit status is 1 if any failed.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, shots, item, flakyTc, scriptTc] = process.argv.slice(2);
const executablePath = process.env.VERDICT_CHROMIUM || '/usr/bin/chromium';
mkdirSync(shots, { recursive: true });
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};
const enc = encodeURIComponent;

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  const visit = async (path, name) => {
    const resp = await page.goto(base + path);
    check(resp && resp.status() === 200, `${path} answers 200 (got ${resp && resp.status()})`);
    await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  };
  const bg = (sel) => page.$eval(sel, (e) => getComputedStyle(e).backgroundColor);

  // Overview: counts, and the search box reached by keyboard.
  await visit('/', 'overview');
  check((await page.textContent('main')).includes('Flaky keys'), 'overview shows the flaky count');
  let focused = '';
  for (let i = 0; i < 12 && focused !== 'q'; i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  }
  check(focused === 'q', 'the search box is reached with Tab');
  await page.keyboard.type(item);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  check(page.url().endsWith(`/items/${enc(item)}`), `searching an item opens its page (${page.url()})`);

  // Results: filters reflected in the URL, outcome colours.
  await visit(`/results?outcome=FAILED&item=${enc(item)}`, 'results');
  const failedSelected = await page.$eval('select[name=outcome] option[value=FAILED]', (o) => o.selected);
  check(failedSelected, 'the outcome filter shows what the URL asked');
  check((await page.$$('tbody tr')).length > 0, 'filtered results are listed');
  check((await page.$$('tbody .badge.o-pass')).length === 0, 'only failures are listed');

  // The history grid: coloured cells, flaky state and reason, inline SVG trends.
  await visit(`/testcases/${enc(flakyTc)}`, 'grid');
  const failCells = await page.$$('td.cell[data-outcome=FAILED]');
  const passCells = await page.$$('td.cell[data-outcome=PASSED]');
  check(failCells.length > 0 && passCells.length > 0, 'the grid has failed and passed cells');
  const failBg = await bg('td.cell[data-outcome=FAILED]');
  const passBg = await bg('td.cell[data-outcome=PASSED]');
  check(failBg !== passBg && failBg !== 'rgba(0, 0, 0, 0)', `failed and passed cells differ in colour (${failBg} vs ${passBg})`);
  const title = await page.$eval('td.cell[data-outcome=FAILED] a', (a) => a.title);
  check(title.startsWith('FAILED · '), `a cell's tooltip names outcome and time (${title})`);
  const states = await page.$$eval('td.flaky-state', (t) => t.map((e) => e.textContent));
  check(states.some((s) => /^flaky/.test(s) && /flip rate/.test(s)), `the flaky state and its reason show (${states})`);
  check((await page.$$('svg.spark')).length > 0, 'trends are drawn as inline SVG');

  // The item page: the decision bar, then waive every unmet requirement by form.
  await visit(`/items/${enc(item)}`, 'item');
  let decision = await page.$('section.decision');
  check(decision && (await decision.getAttribute('data-satisfied')) === 'false', 'the gate is closed before waiving');
  const now = await page.$eval('[role=progressbar]', (e) => [e.getAttribute('aria-valuenow'), e.getAttribute('aria-valuemax')]);
  check(now[0] === '2' && now[1] === '5', `the progress bar shows 2 of 5 (${now})`);
  for (let i = 0; i < 10; i++) {
    const summary = await page.$('details.waive summary');
    if (!summary) break;
    await summary.click();
    await page.fill('details.waive[open] input[name=comment]', 'known issue, tracked');
    await page.fill('details.waive[open] input[name=username]', 'alice');
    await Promise.all([page.waitForNavigation(), page.click('details.waive[open] button[type=submit]')]);
    check(page.url().includes(`/items/${enc(item)}`), 'a waiver brings the item page back');
  }
  decision = await page.$('section.decision');
  check(decision && (await decision.getAttribute('data-satisfied')) === 'true', 'the gate opens once every requirement is waived');
  await page.screenshot({ path: `${shots}/item-waived.png`, fullPage: true });

  // The flaky board: quarantine the flaky key by form, and see another item's gate move.
  const gated = process.env.GATED_ITEM;
  const progress = async () => {
    await page.goto(`${base}/items/${enc(gated)}`);
    return Number(await page.$eval('[role=progressbar]', (e) => e.getAttribute('aria-valuenow')));
  };
  const before = await progress();
  await visit('/flaky', 'flaky');
  const reasons = await page.$$eval('tr[data-state=flaky] td.reason', (t) => t.map((e) => e.textContent));
  check(reasons.some((r) => r.includes('flip rate')), 'the board gives the flaky reason');
  const row = page.locator('tr[data-state=flaky]', { has: page.locator(`a[href="/testcases/${enc(flakyTc)}"]`) });
  await row.locator('details.quarantine summary').click();
  await row.locator('input[name=username]').fill('alice');
  await Promise.all([page.waitForNavigation(), row.locator('button[type=submit]').click()]);
  check((await row.textContent()).includes('quarantined'), 'the key shows as quarantined');
  const after = await progress();
  check(after === before + 1, `the quarantine covers the flaky requirement of ${gated} (${before} → ${after} met)`);
  await visit('/quarantines', 'quarantines');
  check((await page.$$('form[action="/quarantines/revoke"]')).length > 0, 'the rule is listed with a revoke form');

  await visit(`/compare?base_item=${enc(process.env.BASE_ITEM || item)}&head_item=${enc(item)}&head_type=koji_build`, 'compare');
  check((await page.$$('section#new-failures, section#fixed')).length === 2, 'the comparison buckets show');
  await visit('/waivers', 'waivers');
  check((await page.$$('tbody tr')).length > 0, 'the waivers are listed');
  const firstResult = await page.goto(`${base}/results`).then(() => page.$eval('tbody tr td[data-label=Time] a', (a) => a.getAttribute('href')));
  await visit(firstResult, 'result');
  check((await page.$$('[data-verified=true]')).length === 1, 'the result entry verifies');

  // A testcase named <script>…: rendered as text, never run.
  await visit(`/testcases/${enc(scriptTc)}`, 'script-testcase');
  check((await page.textContent('h1')).includes(scriptTc), 'the <script> name is shown as text');
  check((await page.$$('script')).length === 0, 'the page holds no script element');
  await visit(`/results?testcases:like=${enc(scriptTc)}`, 'script-results');
  check(dialogs.length === 0, `no dialog opened (${dialogs})`);
  check(errors.length === 0, `no page errors (${errors})`);

  // Phone width and dark mode.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
  const p2 = await phone.newPage();
  await p2.goto(`${base}/items/${enc(item)}`);
  const overflow = await p2.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `the item page fits a phone width (overflow ${overflow}px)`);
  const dark = await p2.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(dark === 'rgb(15, 18, 22)', `dark mode follows prefers-color-scheme (${dark})`);
  await p2.screenshot({ path: `${shots}/item-phone-dark.png`, fullPage: true });
  await p2.goto(`${base}/testcases/${enc(flakyTc)}`);
  await p2.screenshot({ path: `${shots}/grid-phone-dark.png`, fullPage: true });
} finally {
  await browser.close();
}
if (failures.length) {
  console.log(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('all browser checks passed');
