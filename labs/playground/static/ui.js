// Small DOM helpers for the panels (not part of any analogy).
import { t } from "./i18n.js";

/** The element with data-role="role" inside root. */
export const $ = (root, role) => root.querySelector(`[data-role="${role}"]`);

/** Create an element: el("li", {className: "x"}, "text", child, ...). */
export function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** Set a <progress> bar and the "NN %" label next to it. */
export function setBar(bar, label, percent) {
  const value = Math.max(0, Math.min(100, Number(percent) || 0));
  bar.value = value;
  bar.dataset.percent = String(Math.round(value));
  if (label) label.textContent = `${Math.round(value)} %`;
}

/** Add a line at the end of a log list, keeping the newest `max` lines. */
export function addLog(list, content, className = "") {
  const item = el("li", { className }, content);
  list.append(item);
  while (list.children.length > Number(list.dataset.max || 40)) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
  return item;
}

export const shortId = (id) => String(id).slice(0, 8);

export function bytes(n) {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${n} B`;
}

/** Seconds with one decimal, e.g. "1.5 s". */
export const secs = (s) => `${Number(s).toFixed(s < 10 ? 2 : 1)} s`;

/** Resolve on the next animation frame (after the page has had a chance to paint). */
export const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

/** A state's label in the current language (pending / running / completed / failed / unknown). */
export const stateLabel = (state) => t(`state.${["pending", "running", "completed", "failed"].includes(state) ? state : "unknown"}`);

/** Check a list of seq numbers: every number from 1 to n exactly once? */
export function checkSeqs(seqs) {
  const seen = new Map();
  for (const seq of seqs) seen.set(seq, (seen.get(seq) || 0) + 1);
  const top = Math.max(0, ...seqs);
  const duplicates = [...seen].filter(([, count]) => count > 1).map(([seq]) => seq);
  const gaps = [];
  for (let seq = 1; seq <= top; seq++) if (!seen.has(seq)) gaps.push(seq);
  return { top, duplicates, gaps, ok: duplicates.length === 0 && gaps.length === 0 };
}
