// A standalone SMART launch in headless Chromium, by the SMART JavaScript client
// (fhirclient) nobody here wrote: an app served from its own origin (http://localhost:PORT,
// not the API's 127.0.0.1) starts the launch with PKCE, a person signs in on our authorize
// page, approves, picks a patient, and the app reads that patient through FHIR. Each of
// our pages is screenshotted into SCREENSHOT_DIR (for a person to look at) and checked
// for what a reader needs: labelled fields, legible type, the app's name, the scopes in
// words, and no Content-Security-Policy refusal of our own stylesheet.
//
//   NODE_PATH=<node_modules> node smart_browser.js http://127.0.0.1:API_PORT SCREENSHOT_DIR
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");
const { chromium } = require("playwright-core");

const [api, screenshots] = process.argv.slice(2);
const PASSWORD = "smart-browser-password";
const APP_NAME = "Riverside Chart Viewer";
const fhirClientBundle = require.resolve("fhirclient/build/fhir-client.js");

function fail(message) {
  console.error(`SMART browser check failed: ${message}`);
  process.exit(1);
}

function check(condition, message) {
  if (!condition) fail(message);
}

async function rest(token, method, route, body) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(api + route, { method, headers, body: JSON.stringify(body) });
  const text = await response.text();
  check(response.status < 300, `${method} ${route}: ${response.status} ${text}`);
  return JSON.parse(text).data;
}

// The app's own origin: its two pages and fhirclient's browser bundle.
function serveApp() {
  const files = {
    "/launch.html": path.join(__dirname, "smart_app", "launch.html"),
    "/index.html": path.join(__dirname, "smart_app", "index.html"),
    "/fhir-client.js": fhirClientBundle,
  };
  const server = http.createServer((request, response) => {
    const file = files[new URL(request.url, "http://localhost").pathname];
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    const type = file.endsWith(".js") ? "text/javascript" : "text/html; charset=utf-8";
    response.writeHead(200, { "content-type": type }).end(fs.readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// What a person in front of the page needs, checked in the rendered page itself.
async function legible(page, step) {
  const problems = await page.evaluate(() => {
    const found = [];
    for (const input of document.querySelectorAll("input:not([type=hidden])")) {
      const label = input.labels && input.labels[0];
      if (!label || !label.textContent.trim()) found.push(`an input without a label: ${input.name}`);
    }
    for (const text of document.querySelectorAll("label, legend, p, button, h1, li")) {
      const size = parseFloat(getComputedStyle(text).fontSize);
      if (size < 14) found.push(`${text.tagName} "${text.textContent.trim().slice(0, 30)}" at ${size}px`);
    }
    const body = getComputedStyle(document.body);
    if (body.fontFamily.includes("Times")) found.push("the browser's default serif: our stylesheet did not apply");
    return found;
  });
  await page.screenshot({ path: path.join(screenshots, `smart-${step}.png`), fullPage: true });
  check(problems.length === 0, `${step}: ${problems.join("; ")}`);
}

async function main() {
  fs.mkdirSync(screenshots, { recursive: true });
  const run = Math.random().toString(16).slice(2, 10);
  const email = `browser-${run}@example.com`;
  const owner = (await rest(null, "POST", "/api/auth/register", { name: "Dr Ada Browser", email, password: PASSWORD }))
    .access_token;
  const org = (await rest(owner, "POST", "/api/orgs", { name: `Riverside ${run}` })).id;
  const patients = [];
  for (const name of ["Grace Hopper", "Alan Turing"]) {
    const body = { name, date_of_birth: "1960-03-04", organization_id: org };
    patients.push((await rest(owner, "POST", "/api/patients", body)).id);
  }
  const server = await serveApp();
  const appOrigin = `http://localhost:${server.address().port}`;
  const app = await rest(owner, "POST", `/api/orgs/${org}/apps`, {
    name: APP_NAME,
    redirect_uris: [`${appOrigin}/index.html`],
    scopes: "openid fhirUser launch/patient patient/Patient.rs",
  });

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--no-first-run", "--disable-quic", "--disable-sync"],
  });
  const refusals = [];
  try {
    const context = await browser.newContext({ viewport: { width: 800, height: 720 } });
    const page = await context.newPage();
    // A failed load is reported by its response below, with its URL (the console's line has none).
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
        refusals.push(`${page.url()}: ${message.text()}`);
      }
    });
    page.on("response", (response) => {
      if (response.status() >= 400 && new URL(response.url()).pathname !== "/favicon.ico") {
        refusals.push(`${response.request().method()} ${response.url()}: ${response.status()}`);
      }
    });
    const launch = new URL(`${appOrigin}/launch.html`);
    launch.searchParams.set("iss", `${api}/api/fhir`);
    launch.searchParams.set("client_id", app.client_id);
    await page.goto(launch.href);

    await page.waitForURL(`${api}/api/auth/oauth/authorize?**`, { timeout: 15000 });
    check(new URL(page.url()).searchParams.get("code_challenge_method") === "S256", `PKCE: ${page.url()}`);
    await page.getByLabel("Email").waitFor();
    check((await page.textContent("body")).includes(APP_NAME), "the sign-in page names the app");
    await legible(page, "sign-in");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();

    await page.getByRole("button", { name: "Allow" }).waitFor({ timeout: 10000 });
    const consent = await page.textContent("body");
    check(consent.includes(APP_NAME), "the consent page names the app");
    check(/read/i.test(consent) && consent.includes("patient"), `the scopes in words: ${consent}`);
    check(!consent.includes("patient/Patient.rs"), `scopes in words, not codes: ${consent}`);
    await legible(page, "consent");
    await page.getByRole("button", { name: "Allow" }).click();

    await page.getByRole("button", { name: "Continue" }).waitFor({ timeout: 10000 });
    await legible(page, "patient-picker");
    check((await page.locator("input[name=patient]:checked").count()) === 0, "the picker chose a patient itself");
    await page.getByLabel("Grace Hopper").check();
    await page.getByRole("button", { name: "Continue" }).click();

    await page.waitForSelector("body[data-result]", { timeout: 15000 });
    const result = await page.getAttribute("body", "data-result");
    const out = await page.textContent("#out");
    check(result === "ok", `the app: ${out}`);
    const read = JSON.parse(out);
    check(read.launchPatient === patients[0] && read.read.id === patients[0], `the launch patient: ${out}`);
    check(read.read.resourceType === "Patient" && read.read.name[0].text === "Grace Hopper", `the read: ${out}`);
    check(page.url().startsWith(`${appOrigin}/index.html`), `back in the app: ${page.url()}`);
    await page.screenshot({ path: path.join(screenshots, "smart-app.png") });
    check(refusals.length === 0, `the browser's console: ${refusals.join("; ")}`);
  } finally {
    await browser.close();
    server.close();
  }
  console.log(`SMART JS client in Chromium: standalone launch with PKCE, sign-in, consent, picker, FHIR read: ok ` +
    `(screenshots in ${screenshots})`);
}

main().catch((error) => fail(error.stack || String(error)));
