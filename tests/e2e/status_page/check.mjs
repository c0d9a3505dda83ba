// Opens the demo's /status in Debian's headless Chromium, the way a person on call would: on a
// phone and on a desktop. Asserts the page shows every health check with its status, the
// heartbeats and the four charts with data; that it loads nothing from anywhere else, logs
// no console error and does not scroll sideways on a phone.
//
//   node check.mjs <base-url> [screenshot.png]
import puppeteer from 'puppeteer-core';

const [base, screenshot] = process.argv.slice(2);
if (!base) {
  console.error('usage: node check.mjs <base-url> [screenshot.png]');
  process.exit(2);
}
const failures = [];
const expect = (ok, what) => {
  if (!ok) failures.push(what);
};

const readHealth = async () =>
  (await fetch(`${base}/health`, {headers: {Accept: 'application/json'}})).json();
// A check may change between two reads (the panel check asks the demo's own /live, which a
// loaded machine can answer late): the page must agree with /health as read just before or
// just after it was rendered.
const health = await readHealth();
const checkNames = Object.keys(health.checks);
expect(checkNames.length > 0, 'the demo reports no health checks');

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // CI runs as root, where Chromium's sandbox cannot start.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  const consoleErrors = [];
  const foreignRequests = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  page.on('request', (request) => {
    if (!request.url().startsWith(base)) foreignRequests.push(request.url());
  });

  await page.setViewport({width: 390, height: 844, deviceScaleFactor: 2, isMobile: true});
  const response = await page.goto(`${base}/status`, {waitUntil: 'load'});
  expect(response.status() === 200, `/status answered ${response.status()}`);
  expect(response.headers()['content-type'].startsWith('text/html'), 'not served as HTML');

  const seen = await page.evaluate(() => ({
    title: document.title,
    heading: document.querySelector('h1')?.textContent ?? '',
    refresh: document.querySelector('meta[http-equiv="refresh"]')?.getAttribute('content'),
    checks: Object.fromEntries(
      [...document.querySelectorAll('#checks tr[data-check]')].map((row) => [
        row.dataset.check,
        row.querySelector('.badge')?.textContent ?? '',
      ]),
    ),
    heartbeatRows: document.querySelectorAll('#heartbeats tr').length - 1,
    charts: Object.fromEntries(
      [...document.querySelectorAll('figure.chart')].map((figure) => [
        figure.id,
        {
          points: Number(figure.dataset.points),
          paths: figure.querySelectorAll('svg path').length,
          width: figure.querySelector('svg')?.getBoundingClientRect().width ?? 0,
        },
      ]),
    ),
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));

  expect(seen.title.includes('status'), `title "${seen.title}"`);
  expect(/healthy|degraded|unhealthy/.test(seen.heading), `heading "${seen.heading}" has no status`);
  expect(Number(seen.refresh) > 0, 'the page does not refresh itself');
  const healthAfter = await readHealth();
  for (const name of checkNames) {
    expect(name in seen.checks, `check "${name}" is missing from the page`);
    const before = health.checks[name];
    const after = healthAfter.checks[name] ?? before;
    if (name in seen.checks)
      expect(seen.checks[name] === before.status || seen.checks[name] === after.status,
             `check "${name}" shows "${seen.checks[name]}", /health says "${before.status}" ` +
                 `before ("${before.message ?? ''}") and "${after.status}" after ("${after.message ?? ''}")`);
  }
  expect(seen.heartbeatRows >= 1, 'no heartbeat rows');
  for (const id of ['chart-updates', 'chart-handler-p95', 'chart-payments', 'chart-errors']) {
    const chart = seen.charts[id];
    expect(chart !== undefined, `chart ${id} is missing`);
    if (!chart) continue;
    expect(chart.points >= 2 && chart.paths >= 1, `chart ${id} has no line (${chart.points} points)`);
    expect(chart.width > 300, `chart ${id} is ${chart.width}px wide on a phone`);
  }
  expect(seen.scrollWidth <= seen.innerWidth + 1,
         `the page scrolls sideways on a phone (${seen.scrollWidth}px in ${seen.innerWidth}px)`);

  if (screenshot) {
    await page.setViewport({width: 1100, height: 900, deviceScaleFactor: 1});
    await page.reload({waitUntil: 'load'});
    await page.screenshot({path: screenshot, fullPage: true});
  }
  expect(consoleErrors.length === 0, `console errors: ${consoleErrors.join(' | ')}`);
  expect(foreignRequests.length === 0, `requests elsewhere: ${foreignRequests.join(' ')}`);
  console.log(`status page: ${Object.keys(seen.checks).length} checks, ${seen.heartbeatRows} heartbeats, charts ${JSON.stringify(
      Object.fromEntries(Object.entries(seen.charts).map(([id, c]) => [id, c.points])))}`);
} finally {
  await browser.close();
}
if (failures.length > 0) {
  for (const failure of failures) console.error(`status page: FAIL: ${failure}`);
  process.exit(1);
}
console.log('status page: ok');
