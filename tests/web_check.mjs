// Open a kerasfer --web page in headless Chromium (Debian's, driven by playwright-core), wait for its
// batch results, save a screenshot, print {"batch": ..., "console_errors": [...]} as JSON.
// Usage: node tests/web_check.mjs URL SCREENSHOT.png CHROMIUM
import {chromium} from "playwright-core";

const [url, screenshot, executablePath] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const consoleErrors = [];
try {
  const page = await browser.newPage({viewport: {width: 1100, height: 1400}});
  page.on("console", (m) => {
    // LiteRT's WebAssembly writes its INFO/WARNING log lines with console.error; those are not errors
    if (m.type() === "error" && !/^(INFO|WARNING|VERBOSE): /.test(m.text())) consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("response", (r) => { if (r.status() >= 400) consoleErrors.push(`HTTP ${r.status()} ${r.url()}`); });
  await page.goto(url);
  const results = await page.waitForSelector("#batch-results", {state: "attached", timeout: 120000});
  const batch = JSON.parse(await results.textContent());
  await page.screenshot({path: screenshot, fullPage: true});
  console.log(JSON.stringify({batch, console_errors: consoleErrors}));
} finally {
  await browser.close();
}
