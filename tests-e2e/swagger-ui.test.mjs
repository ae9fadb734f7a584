// The gateway's Swagger UI in headless Chromium, against a running demo (.ci/docs-check starts it).
//
//   GATEWAY_URL      the API's base URL, http://127.0.0.1:PORT (required)
//   GATEWAY_CALLER_KEY  a caller's key: the gateway runs with a callers file (required)
//   CHROMIUM         the browser (default /usr/bin/chromium)
//   SCREENSHOT       where the final screenshot goes (default /tmp/swagger.png)
//   DOCS_HOST        the name the page is opened under (default docs.anaplan-gateway.test)
//
// The page is opened under a name that is not loopback (DOCS_HOST below, which Chromium alone maps
// to 127.0.0.1), as a deployed gateway is: Swagger UI behaves differently on localhost/127.0.0.1
// (it never asks the online validator there, for one), and the check is that nothing leaves the
// machine when the docs are served from a real host name. Every request is recorded; any whose host
// is not this machine fails the check, and is aborted before it goes out.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const gatewayUrl = process.env.GATEWAY_URL;
assert.ok(gatewayUrl, 'GATEWAY_URL must be set (http://127.0.0.1:PORT)');
const port = new URL(gatewayUrl).port;
const callerKey = process.env.GATEWAY_CALLER_KEY;
assert.ok(callerKey, 'GATEWAY_CALLER_KEY must be set (the gateway runs with a callers file)');
const DOCS_HOST = process.env.DOCS_HOST || 'docs.anaplan-gateway.test';
const docsOrigin = `http://${DOCS_HOST}:${port}`;
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const screenshotPath = process.env.SCREENSHOT ?? '/tmp/swagger.png';

// The demo's simulated import (src/demo.rs).
const TASK = {
  kind: 'import',
  taskId: '1B1D84DDD53847BAA621810B593C3FC1',
  modelId: '75A40874E6B64FA3AE0743278996850F',
  objectId: '112000000009',
};

const WAIT = 15_000; // any one wait in the page
const TEST_TIMEOUT = 45_000; // any one test

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', DOCS_HOST]);
// Schemes that never touch the network.
const NO_NETWORK = new Set(['data:', 'blob:', 'about:']);

/** Whether loading `url` stays on this machine. */
function staysLocal(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  return NO_NETWORK.has(parsed.protocol) || LOCAL_HOSTS.has(parsed.hostname);
}

let browser;
let context;
let page;
let openapi; // the OpenAPI document, as the gateway serves it
const requests = []; // every request the browser made: { method, url, resourceType }
const pageErrors = []; // uncaught exceptions in the page
const consoleErrors = []; // console.error messages, with where they came from

before(async () => {
  const answer = await fetch(`${gatewayUrl}/openapi.json`, { signal: AbortSignal.timeout(WAIT) });
  assert.equal(answer.status, 200, 'GET /openapi.json');
  openapi = await answer.json();

  browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox', // CI runs as root
      '--disable-dev-shm-usage',
      // Only the docs' name resolves (to loopback); any other name fails to resolve, so nothing
      // could leave the machine even past the route below.
      `--host-resolver-rules=MAP ${DOCS_HOST} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1`,
    ],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, serviceWorkers: 'block' });
  context.setDefaultTimeout(WAIT);
  context.setDefaultNavigationTimeout(WAIT);
  context.on('request', (request) => {
    requests.push({ method: request.method(), url: request.url(), resourceType: request.resourceType() });
  });
  await context.route('**/*', (route) =>
    staysLocal(route.request().url()) ? route.continue() : route.abort('blockedbyclient'),
  );
  page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('websocket', (socket) => requests.push({ method: 'WEBSOCKET', url: socket.url(), resourceType: 'websocket' }));
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push({ text: message.text(), url: message.location().url });
  });
});

after(async () => {
  if (page) {
    // From the top of the page down to the "Try it out" answer when there is one, else all of it.
    const bottom = await page
      .evaluate(() => {
        const live = document.querySelector('#swagger-ui .live-responses-table');
        return live ? live.getBoundingClientRect().bottom + window.scrollY + 16 : null;
      })
      .catch(() => null);
    const clip = bottom ? { x: 0, y: 0, width: 1280, height: Math.ceil(bottom) } : undefined;
    await page
      .screenshot({ path: screenshotPath, fullPage: true, clip, timeout: WAIT })
      .then(() => console.log(`screenshot: ${screenshotPath}`))
      .catch((error) => console.error(`screenshot failed: ${error.message}`));
  }
  await browser?.close();
});

test('/docs shows Swagger UI with the API title and every documented operation', { timeout: TEST_TIMEOUT }, async () => {
  const response = await page.goto(`${docsOrigin}/docs`, { waitUntil: 'load' });
  assert.ok(response, 'no response for /docs');
  assert.equal(response.status(), 200, `GET /docs answered ${response.status()}`);

  const title = page.locator('#swagger-ui .info .title');
  await title.waitFor({ state: 'visible' });
  const titleText = (await title.textContent()).trim();
  assert.ok(
    titleText.startsWith(openapi.info.title),
    `title shown is ${JSON.stringify(titleText)}, expected it to start with ${JSON.stringify(openapi.info.title)}`,
  );

  const expected = [];
  for (const [path, item] of Object.entries(openapi.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']) {
      if (item[method]) expected.push({ method, path });
    }
  }
  assert.ok(expected.length > 0, 'the document has no operations');
  await page.locator('#swagger-ui .opblock').first().waitFor({ state: 'visible' });
  for (const { method, path } of expected) {
    const block = page.locator(`#swagger-ui .opblock.opblock-${method}`, {
      has: page.locator(`.opblock-summary-path[data-path="${path}"]`),
    });
    assert.equal(await block.count(), 1, `operation ${method.toUpperCase()} ${path} is not shown once`);
    assert.ok(await block.isVisible(), `operation ${method.toUpperCase()} ${path} is not visible`);
  }
  const shown = await page.locator('#swagger-ui .opblock').count();
  assert.equal(shown, expected.length, `${shown} operations shown, the document has ${expected.length}`);

  // Swagger UI lists problems with the document (unresolvable $refs, parse errors) in this box.
  const errors = page.locator('#swagger-ui .errors-wrapper');
  assert.equal(await errors.count(), 0, `Swagger UI reports errors: ${await errors.allTextContents()}`);
});

test('"Authorize" takes a caller\'s key, without which the API answers 401', { timeout: TEST_TIMEOUT }, async () => {
  const task = `${gatewayUrl}/tasks/${TASK.kind}/${TASK.taskId}?modelId=${TASK.modelId}&objectId=${TASK.objectId}`;
  const without = await fetch(task, { signal: AbortSignal.timeout(WAIT) });
  assert.equal(without.status, 401, 'a request without a key');
  assert.match(without.headers.get('www-authenticate') ?? '', /^Bearer /);

  await page.locator('#swagger-ui .auth-wrapper button.authorize').click();
  const dialog = page.locator('#swagger-ui .dialog-ux');
  await dialog.waitFor({ state: 'visible' });
  await dialog.locator('input').first().fill(callerKey);
  await dialog.locator('.auth-btn-wrapper button.authorize').click();
  await dialog.locator('.auth-btn-wrapper button.btn-done').click();
  await dialog.waitFor({ state: 'hidden' });
});

test('"Try it out" on GET /tasks/{kind}/{taskId} answers 200 with the task', { timeout: TEST_TIMEOUT }, async () => {
  const block = page.locator('#swagger-ui .opblock.opblock-get', {
    has: page.locator('.opblock-summary-path[data-path="/tasks/{kind}/{taskId}"]'),
  });
  await block.waitFor({ state: 'visible' });
  await block.locator('.opblock-summary').first().click();
  await block.locator('button.try-out__btn').click();

  const parameter = (name) => block.locator(`tr[data-param-name="${name}"]`);
  const kind = parameter('kind');
  await kind.waitFor({ state: 'visible' });
  // An enum is a <select>, anything else a text <input>.
  if (await kind.locator('select').count()) {
    await kind.locator('select').selectOption(TASK.kind);
  } else {
    await kind.locator('input').fill(TASK.kind);
  }
  for (const name of ['taskId', 'modelId', 'objectId']) {
    await parameter(name).locator('input').fill(TASK[name]);
  }

  const answered = page.waitForResponse(
    (response) => new URL(response.url()).pathname === `/tasks/${TASK.kind}/${TASK.taskId}`,
  );
  await block.locator('button.execute').click();
  const wire = await answered;
  const authorization = await wire.request().headerValue('authorization');
  assert.equal(authorization, `Bearer ${callerKey}`, 'Swagger UI sent the key given to "Authorize"');
  const sent = new URL(wire.url());
  for (const name of ['modelId', 'objectId']) {
    assert.equal(sent.searchParams.get(name), TASK[name], `the request Swagger UI sent (${wire.url()}) lacks ${name}`);
  }

  const live = block.locator('.live-responses-table');
  const status = live.locator('.response .response-col_status').first();
  await status.waitFor({ state: 'visible' });
  const statusText = (await status.textContent()).trim();
  const bodyText = await live.locator('.response-col_description .highlight-code').first().textContent({ timeout: WAIT });
  assert.equal(statusText, '200', `Swagger UI shows status ${statusText}; body: ${bodyText}`);
  assert.ok(bodyText.includes(TASK.taskId), `the body shown lacks the task id: ${bodyText}`);
  assert.match(bodyText, /"kind":\s*"import"/, `the body shown lacks "kind": "import": ${bodyText}`);
  await live.scrollIntoViewIfNeeded();
});

test('"Try it out" on POST /tasks/{kind} starts a task: 202 with the task', { timeout: TEST_TIMEOUT }, async () => {
  const block = page.locator('#swagger-ui .opblock.opblock-post', {
    has: page.locator('.opblock-summary-path[data-path="/tasks/{kind}"]'),
  });
  await block.waitFor({ state: 'visible' });
  await block.locator('.opblock-summary').first().click();
  await block.locator('button.try-out__btn').click();

  const parameter = (name) => block.locator(`tr[data-param-name="${name}"]`);
  await parameter('kind').locator('input').fill(TASK.kind);
  for (const name of ['modelId', 'objectId']) {
    await parameter(name).locator('input').fill(TASK[name]);
  }
  const key = `docs-check-${Date.now()}`;
  await parameter('Idempotency-Key').locator('input').fill(key);

  const answered = page.waitForResponse(
    (response) => response.request().method() === 'POST' && new URL(response.url()).pathname === `/tasks/${TASK.kind}`,
  );
  await block.locator('button.execute').click();
  const wire = await answered;
  assert.equal(await wire.request().headerValue('idempotency-key'), key, 'Swagger UI sent the key');

  const live = block.locator('.live-responses-table');
  const status = live.locator('.response .response-col_status').first();
  await status.waitFor({ state: 'visible' });
  const statusText = (await status.textContent()).trim();
  const bodyText = await live.locator('.response-col_description .highlight-code').first().textContent({ timeout: WAIT });
  assert.equal(statusText, '202', `Swagger UI shows status ${statusText}; body: ${bodyText}`);
  assert.match(bodyText, /"kind":\s*"import"/, `the body shown lacks "kind": "import": ${bodyText}`);
  assert.match(bodyText, /"state":\s*"queued"/, `the body shown lacks "state": "queued": ${bodyText}`);
});

test('no request left the machine, and the page raised no error', { timeout: TEST_TIMEOUT }, async () => {
  assert.ok(requests.length > 0, 'no request was recorded');
  const outside = requests.filter((request) => !staysLocal(request.url));
  if (outside.length) {
    assert.fail(
      `${outside.length} request(s) to other hosts (blocked here; a browser elsewhere would send them):\n` +
        outside.map((request) => `  ${request.method} ${request.url} (${request.resourceType})`).join('\n'),
    );
  }
  if (pageErrors.length) assert.fail(`uncaught exceptions in the page:\n  ${pageErrors.join('\n  ')}`);
  // A blocked outside request logs a console error of its own; the check above reports those.
  const localErrors = consoleErrors.filter((message) => !message.url || staysLocal(message.url));
  if (localErrors.length) {
    assert.fail(`console errors in the page:\n${localErrors.map((m) => `  ${m.text} (${m.url})`).join('\n')}`);
  }
  console.log(`${requests.length} requests, all to this machine:`);
  for (const request of requests) console.log(`  ${request.method} ${request.url}`);
});
