// Panel 2 · task states ↔ Promise states: a job's four states drawn live next to a Promise's three.
import { jobPromise, seedPromise, watchPromise } from "../code/job-promise.js";
import { scaled, submitJob } from "../code/lab-api.js";
import { setText } from "../i18n.js";
import { $, el, shortId } from "../ui.js";

const JOB_STATES = ["pending", "running", "completed", "failed"];
const PROMISE_STATES = ["pending", "fulfilled", "rejected"];

/** A row of state boxes; light(state) highlights one and marks the ones passed through. */
function stateRow(kind, states) {
  const row = el("div", { className: `states ${kind}` });
  const boxes = new Map();
  for (const state of states) {
    const box = el("span", { className: `state s-${state}` });
    box.dataset.state = state;
    setText(box, `${kind}.${state}`);
    boxes.set(state, box);
    row.append(box);
  }
  const light = (state) => {
    for (const [name, box] of boxes) {
      if (box.classList.contains("now")) box.classList.add("was");
      box.classList.toggle("now", name === state);
    }
    row.dataset.now = state;
  };
  return { row, light };
}

/** One card: a title, the job's states (if any), the trail of states, and the Promise's states. */
function card(cards, titleKey, vars, withJob) {
  const root = el("div", { className: "card" });
  const title = el("h4");
  setText(title, titleKey, vars);
  const job = withJob ? stateRow("job", JOB_STATES) : null;
  const trail = el("p", { className: "trail" });
  const promise = stateRow("promise", PROMISE_STATES);
  const labels = [el("span", { className: "row-label" }), el("span", { className: "row-label" })];
  setText(labels[0], "p2.row_job");
  setText(labels[1], "p2.row_promise");
  root.append(title);
  if (job) root.append(labels[0], job.row, trail);
  root.append(labels[1], promise.row);
  cards.prepend(root);
  while (cards.children.length > 4) cards.lastElementChild.remove();
  const states = [];
  return {
    root,
    jobState(state) {
      states.push(state);
      root.dataset.trail = states.join(" ");
      trail.textContent = states.join(" → ");
      job.light(state);
    },
    promiseState(state) {
      root.dataset.promise = state;
      promise.light(state);
    },
  };
}

export function mount(section) {
  const cards = $(section, "cards");

  const runSeed = (succeed) => {
    const ms = scaled(1000);
    const view = card(cards, succeed ? "p2.card_seed_ok" : "p2.card_seed_fail", { ms: Math.round(ms) }, false);
    view.root.dataset.kind = succeed ? "seed-ok" : "seed-fail";
    watchPromise(seedPromise(ms, succeed), view.promiseState).catch(() => {});  // rejection handled: drawn above
  };

  const runJob = async (succeed) => {
    const [task, params] = succeed
      ? ["slow_task", { steps: 4, step_seconds: 1 }]
      : ["risky_task", { data: { parcel: "p2", poison: true } }];
    const id = await submitJob(task, params);
    const view = card(cards, "p2.card_job", { task, id: shortId(id) }, true);
    view.root.dataset.kind = succeed ? "job-ok" : "job-fail";
    view.root.dataset.job = id;
    watchPromise(jobPromise(id, view.jobState), view.promiseState).catch(() => {});
  };

  $(section, "seed-ok").onclick = () => runSeed(true);
  $(section, "seed-fail").onclick = () => runSeed(false);
  $(section, "job-ok").onclick = () => runJob(true);
  $(section, "job-fail").onclick = () => runJob(false);
}
