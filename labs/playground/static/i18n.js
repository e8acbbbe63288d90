// Every string the playground shows comes from the lab's one catalogue (labs/i18n/zh.json and en.json,
// shared with the dashboard), which the server sends as i18n.json beside this file. It is loaded once,
// with a top-level await, so every module importing this one starts with the strings already here.
// t(key, vars) looks one up; a key missing in the current language is reported with console.error
// (the browser test fails on any console error), so both languages always stay complete.

const STORAGE_KEY = "lab.lang";

async function load() {
  try {
    const response = await fetch(new URL("i18n.json", import.meta.url), { cache: "no-cache" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.json();
  } catch (error) {
    console.error(`i18n: cannot load the string catalogue: ${error}`);
    return { languages: {}, default: "zh", strings: { zh: {}, en: {} } };  // every t() then reports its key
  }
}

const catalogue = await load();
export const DICT = catalogue.strings;
export const LANGUAGES = catalogue.languages;

let current = DICT[localStorage.getItem(STORAGE_KEY)] ? localStorage.getItem(STORAGE_KEY) : catalogue.default;
const listeners = [];

export const lang = () => current;

/** The text for `key` in the current language, with {name} placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = DICT[current][key];
  if (text === undefined) {
    console.error(`i18n: no "${current}" text for "${key}"`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** Show t(key, vars) in `node` and remember the key, so a language switch re-translates it. */
export function setText(node, key, vars = {}, tone = "") {
  node.dataset.i18n = key;
  node.dataset.i18nVars = JSON.stringify(vars);
  node.dataset.tone = tone;
  node.textContent = t(key, vars);
  return node.textContent;
}

/** Translate every [data-i18n] (text) and [data-i18n-html] (our own markup) under root. */
export function translate(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n, node.dataset.i18nVars ? JSON.parse(node.dataset.i18nVars) : {});
  }
  for (const node of root.querySelectorAll("[data-i18n-html]")) node.innerHTML = t(node.dataset.i18nHtml);
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
}

export function setLang(next) {
  if (!DICT[next]) return;
  current = next;
  localStorage.setItem(STORAGE_KEY, next);
  translate();
  for (const listener of listeners) listener(next);
}

export function onLangChange(listener) {
  listeners.push(listener);
}
