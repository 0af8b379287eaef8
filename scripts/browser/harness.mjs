// What every flow of the browser test shares: the environment, the steps (each prints ok or FAIL
// and leaves a screenshot), what the page may complain about, and small helpers that drive the
// storefront's forms. storefront.test.mjs runs the flows.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const env = (name) => process.env[name] ?? (() => { throw new Error(`${name} is not set`); })();
const require = createRequire(join(env('PLAYWRIGHT_DIR'), 'node_modules', '/'));
const { chromium } = require('playwright-core');

const ARTIFACTS = env('ARTIFACTS');
export const GATEWAY = env('GATEWAY');
export const PASSWORD = 'correct horse battery';
export const TAG = Math.random().toString(16).slice(2, 10);
export const TIMEOUT = 10_000;

// --- steps, and what the page may complain about ----------------------------------------------

const results = [];
let problems = [];   // what went wrong in the page during the current step
let expected = [];   // [{status, url}] error answers the current step provokes on purpose
let shot = 0;

function isExpected(status, url) {
  return expected.some((e) => e.status === status && url.includes(e.url));
}

export function watch(page) {
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    // The browser logs every error answer as "Failed to load resource"; the response handler
    // below judges those.
    const status = Number(/status of (\d{3})/.exec(msg.text())?.[1]);
    if (status && isExpected(status, msg.location().url ?? '')) return;
    if (status && msg.text().startsWith('Failed to load resource')) return;
    problems.push(`console error: ${msg.text()} (${msg.location().url ?? ''})`);
  });
  page.on('requestfailed', (request) => {
    // An image dropped because the list it was in was redrawn is no failure of the page.
    if (request.resourceType() === 'image' && request.failure()?.errorText === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400 && !isExpected(response.status(), response.url())) {
      problems.push(`error answer: ${response.status()} ${response.request().method()} ${response.url()}`);
    }
  });
}

export async function step(page, name, run, { expect = [] } = {}) {
  problems = [];
  expected = expect;
  const started = Date.now();
  let error = null;
  try {
    await run();
    // Let late console messages and answers of this step arrive.
    await page.waitForTimeout(100);
  } catch (err) {
    error = err.message.split('\n')[0];
  }
  shot += 1;
  const file = `${String(shot).padStart(2, '0')}-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}.png`;
  await page.screenshot({ path: join(ARTIFACTS, file), fullPage: true }).catch(() => {});
  const why = [error, ...problems].filter(Boolean);
  results.push({ name, ok: why.length === 0 });
  const ms = Date.now() - started;
  console.log(`  ${why.length ? 'FAIL' : 'ok  '}  ${name} (${ms} ms)${why.length ? `\n          ${why.join('\n          ')}` : ''}`);
  expected = [];
}

export const byTestId = (page, id) => page.getByTestId(id);

/** Waits until the status line says `text`; fails at once with the page's error if it shows one. */
export async function statusSays(page, text) {
  const outcome = await page.waitForFunction(
    (wanted) => {
      const error = document.querySelector('[data-testid=error]');
      if (!error.hidden && error.textContent) return { error: error.textContent };
      return document.querySelector('[data-testid=status]').textContent.includes(wanted) && { ok: true };
    },
    text,
    { timeout: TIMEOUT },
  );
  const { error } = await outcome.jsonValue();
  if (error) throw new Error(`the page says: ${error}`);
}

export async function register(page, email, name, role, password = PASSWORD) {
  await byTestId(page, 'register-email').fill(email);
  await byTestId(page, 'register-password').fill(password);
  await byTestId(page, 'register-name').fill(name);
  await byTestId(page, `register-role-${role}`).check();
  await byTestId(page, 'register-submit').click();
  await statusSays(page, `Account created for ${email}`);
}

export async function logIn(page, email, role, password = PASSWORD) {
  await byTestId(page, 'login-email').fill(email);
  await byTestId(page, 'login-password').fill(password);
  await byTestId(page, 'login-submit').click();
  await page.waitForFunction((r) => document.querySelector('[data-testid=whoami]').textContent.includes(`(${r})`),
    role, { timeout: TIMEOUT });
}

export async function logOut(page) {
  await byTestId(page, 'logout').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=whoami]').textContent === 'Not logged in',
    null, { timeout: TIMEOUT });
}

/**
 * page.waitForResponse, made safe to leave unawaited: a step that fails before it awaits the
 * answer must fail alone, not end the whole run with an unhandled rejection when the wait times out.
 */
export function answer(page, predicate) {
  const waiting = page.waitForResponse(predicate, { timeout: TIMEOUT });
  waiting.catch(() => {});
  return waiting;
}

/** The tokens the page holds: [access, refresh]. */
export const sessionTokens = (page) =>
  page.evaluate(() => [sessionStorage.getItem('storefront.access_token'), sessionStorage.getItem('storefront.refresh_token')]);

/** Waits until the element `testId` is shown and its text includes `text`; returns the text. */
export async function shows(page, testId, text) {
  const element = page.getByTestId(testId);
  await element.filter({ hasText: text }).waitFor({ state: 'visible', timeout: TIMEOUT });
  return element.textContent();
}

/** A request straight to the API (not through the page): `{status, body}`. */
export async function api(url, init) {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.json().catch(() => null) };
}

/** Runs `flows` with a fresh headless Chromium, then prints the tally and exits 1 if a step failed. */
export async function run(flows) {
  const profile = mkdtempSync(join(tmpdir(), 'storefront-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: env('CHROMIUM'),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(TIMEOUT);
  try {
    await flows(context);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`\n${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
