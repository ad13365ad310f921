// Drives the page of a running `tinybert serve` in headless Chromium: types a sentence, clicks
// Predict, reads the label and the class bars, then does the same for a sentence pair; saves a
// screenshot. With MODE "entities" (a token-classification model): types TEXT, clicks Predict and
// reads the highlighted words and their tags, and whether the pair box is hidden. With MODE
// "answer" (a question-answering model): types QUESTION and the context TEXT, clicks Predict and
// reads the answer and its highlight.
// Usage: node serve_page.cjs PLAYWRIGHT_CORE_DIR URL SCREENSHOT.png [entities TEXT | answer TEXT QUESTION]
// Prints one JSON object: what the page showed, and any request it made off the server.
const [playwrightDir, url, screenshot, mode, text, question] = process.argv.slice(2);
const { chromium } = require(playwrightDir);

// A sentence, then a pair: the label and one bar per class.
async function classes(page, out) {
  await page.fill("#text", "the cat sat on the mat .");
  await page.click("#predict");
  await page.waitForSelector("#label");
  out.label = await page.textContent("#label");
  out.bars = await page.$$eval(".bar", (bars) => bars.map((b) => b.innerText.split("\n")[0].trim()));
  out.latency = await page.textContent("#latency");

  await page.check("#use-pair");
  await page.fill("#pair", "Yes, it is.");
  await page.fill("#text", "Is it raining?");
  await page.evaluate(() => { document.getElementById("result").innerHTML = ""; });
  await page.click("#predict");
  await page.waitForSelector("#label");
  out.pair_label = await page.textContent("#label");
}

// TEXT: the highlighted words and their tags, and whether the pair option is hidden.
async function entities(page, out) {
  out.pair_hidden = !(await page.isVisible("#pair-row"));
  await page.fill("#text", text);
  await page.click("#predict");
  await page.waitForSelector("#entities");
  out.marks = await page.$$eval("mark", (ms) => ms.map((m) => [m.firstChild.textContent, m.querySelector("small").textContent]));
}

// QUESTION about the context TEXT: the answer shown and the highlighted span.
async function answer(page, out) {
  out.pair_hidden = !(await page.isVisible("#pair-row"));
  out.question_shown = await page.isVisible("#question");
  out.text_label = await page.textContent("#text-label");
  await page.fill("#question", question);
  await page.fill("#text", text);
  await page.click("#predict");
  await page.waitForSelector("#label");
  out.answer = await page.textContent("#label");
  out.marks = await page.$$eval("mark", (ms) => ms.map((m) => m.firstChild.textContent));
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const out = { offsite: [], console_errors: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    page.on("request", (r) => { if (!r.url().startsWith(url)) out.offsite.push(r.url()); });
    page.on("console", (m) => { if (m.type() === "error") out.console_errors.push(m.text()); });
    await page.goto(url + "/");
    await page.waitForFunction(() => !document.getElementById("model").textContent.startsWith("loading"));
    out.model = await page.textContent("#model");
    await ({ entities, answer }[mode] || classes)(page, out);
    await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
