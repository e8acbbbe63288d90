// The playground's frame: language switch, tabs, the code boxes and the lab's health line.
// Each panel lives in panels/pN-*.js; the code it runs (and shows) in code/*.js.
import { loadHealth, TIME_SCALE } from "./code/lab-api.js";
import { lang, onLangChange, setLang, setText, translate } from "./i18n.js";
import * as webWorker from "./panels/p1-web-worker.js";
import * as promiseStates from "./panels/p2-promise.js";
import * as uploadProgress from "./panels/p3-upload.js";
import * as fetchRetry from "./panels/p4-retry.js";
import * as errorBoundary from "./panels/p5-error-boundary.js";
import * as phoneCall from "./panels/p6-websocket.js";
import * as radio from "./panels/p7-sse.js";
import * as searchCompare from "./panels/p8-embeddings.js";
import { el } from "./ui.js";

const PANELS = { p1: webWorker, p2: promiseStates, p3: uploadProgress, p4: fetchRetry, p5: errorBoundary, p6: phoneCall, p7: radio, p8: searchCompare };

// ---- the code boxes: fetch each file and show it exactly as the browser runs it
function escapeHtml(text) {
  return text.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);
}

function highlight(source) {
  return source
    .split("\n")
    .map((line) => {
      const html = escapeHtml(line);
      if (/^\s*(\/\/|\/\*\*|\*)/.test(line)) return `<span class="cm">${html}</span>`;
      return html.replace(/(^|\s)(\/\/.*)$/, (_, space, comment) => `${space}<span class="cm">${comment}</span>`);
    })
    .join("\n");
}

async function showSources(box) {
  const files = box.dataset.sources.split(/\s+/);
  const tabs = el("div", { className: "file-tabs" });
  const pre = el("pre", { className: "source" });
  const texts = new Map();
  const show = (file) => {
    pre.innerHTML = highlight(texts.get(file));
    pre.dataset.file = file;
    for (const tab of tabs.children) tab.classList.toggle("active", tab.dataset.file === file);
  };
  for (const file of files) {
    const response = await fetch(file, { cache: "no-cache" });
    texts.set(file, await response.text());
    const tab = el("button", { type: "button", textContent: file.replace("code/", "") });
    tab.dataset.file = file;
    tab.onclick = () => show(file);
    tabs.append(tab);
  }
  const title = el("h3");
  setText(title, "playground.code_title");
  box.append(title, tabs, pre);
  show(files[0]);
}

// ---- tabs: one panel at a time, chosen by the URL's #p1 ... #p8
function route() {
  const id = PANELS[location.hash.slice(1)] ? location.hash.slice(1) : "p1";
  for (const section of document.querySelectorAll("section.panel")) section.hidden = section.id !== id;
  for (const tab of document.querySelectorAll("nav.tabs a")) tab.classList.toggle("active", tab.hash === `#${id}`);
}

// ---- classroom mode: join once with a name; the API's lab_token cookie then rides on every request
async function showJoin() {
  const form = document.querySelector('[data-role="join"]');
  const status = form.querySelector('[data-role="join-status"]');
  const joined = (name) => {
    for (const part of form.querySelectorAll("label, button")) part.hidden = true;
    form.hidden = false;
    setText(status, "join.done", { name });
    document.querySelector('[data-role="health"]').dataset.student = name;
  };
  const me = await fetch("/students/me", { cache: "no-store" });
  if (me.ok) {
    const who = await me.json();
    if (who.name) joined(who.name);  // a student: say whose jobs these are
    return who;
  }
  form.hidden = false;
  setText(status, "join.needed", {}, "bad");
  form.onsubmit = async (event) => {
    event.preventDefault();
    const response = await fetch("/students", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: form.elements.name.value.trim() }),
    });
    const body = await response.json();
    if (!response.ok) return setText(status, "join.refused", { detail: body.detail ?? response.status }, "bad");
    joined(body.name);
  };
  return null;
}

// ---- the health line: broker, workers, LAB_TIME_SCALE
async function showHealth() {
  const line = document.querySelector('[data-role="health"]');
  try {
    const health = await loadHealth();
    if (health.status !== "ok") return setText(line, "health.down", { detail: health.detail ?? "" }, "bad");
    const key = health.workers > 0 ? "health.ok" : "health.no_workers";
    setText(line, key, { workers: health.workers, scale: TIME_SCALE }, health.workers > 0 ? "" : "bad");
  } catch (error) {
    setText(line, "health.down", { detail: String(error) }, "bad");
  }
}

async function start() {
  translate();
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.onclick = () => setLang(button.dataset.lang);
  }
  const markLang = () => {
    for (const button of document.querySelectorAll("[data-lang]")) button.classList.toggle("active", button.dataset.lang === lang());
  };
  markLang();
  onLangChange(markLang);
  await showHealth();
  setInterval(showHealth, 10000);
  await showJoin().catch((error) => console.error("join:", error));
  await Promise.all([...document.querySelectorAll(".code[data-sources]")].map(showSources));
  for (const [id, panel] of Object.entries(PANELS)) panel.mount(document.getElementById(id));
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "true";  // the browser test waits for this
}

start();
