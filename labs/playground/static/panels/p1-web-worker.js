// Panel 1 · task queue ↔ Web Worker: the same slow work in a Web Worker, on the lab's queue,
// and (to feel the difference) on the main thread. A frame counter shows whether the page froze.
import { runInWebWorker, runOnMainThread, runOnQueue } from "../code/background.js";
import { scaled, TIME_SCALE } from "../code/lab-api.js";
import { setText } from "../i18n.js";
import { $, nextFrame, setBar, shortId, stateLabel } from "../ui.js";

export function mount(section) {
  // The page's pulse: one requestAnimationFrame loop. Every run counts the frames drawn meanwhile
  // and the longest pause between two of them.
  const watchers = new Set();
  const dot = $(section, "dot");
  const counter = $(section, "frames");
  let frames = 0;
  let last = performance.now();
  const pulse = (now) => {
    const gap = now - last;
    last = now;
    frames += 1;
    for (const watch of watchers) {
      watch.maxGap = Math.max(watch.maxGap, gap);
      watch.frames += 1;
    }
    dot.style.left = `${((now / 1500) % 1) * 100}%`;
    counter.textContent = String(frames);
    requestAnimationFrame(pulse);
  };
  requestAnimationFrame(pulse);

  const buttons = ["run-worker", "run-queue", "run-main"].map((role) => $(section, role));

  async function run(kind) {
    const row = section.querySelector(`tr[data-run="${kind}"]`);
    const bar = row.querySelector("progress");
    const pct = row.querySelector(".pct");
    const result = row.querySelector(".result");
    const steps = Number($(section, "steps").value) || 5;
    const stepSeconds = Number($(section, "step-seconds").value) || 1;
    const stepMs = stepSeconds * 1000 * TIME_SCALE;  // one step lasts as long as one of the job's steps
    const onProgress = (progress) => setBar(bar, pct, progress.percent);
    row.dataset.state = "running";
    setBar(bar, pct, 0);
    setText(result, "p1.running");
    row.querySelector(".pause").textContent = "…";
    const watch = { maxGap: 0, frames: 0 };
    watchers.add(watch);
    await nextFrame();  // paint "running" before the work starts
    await nextFrame();
    try {
      if (kind === "worker") {
        const done = await runInWebWorker(steps, stepMs, onProgress);
        setText(result, "p1.result_primes", { primes: done.primes, checked: done.checked });
      } else if (kind === "main") {
        const done = runOnMainThread(steps, stepMs, onProgress);
        setText(result, "p1.result_primes", { primes: done.primes, checked: done.checked });
      } else {
        let polls = 0;
        let unchanged = 0;
        const view = await runOnQueue(steps, stepSeconds, (view, status) => {
          polls += 1;
          if (status === 304) unchanged += 1;
          if (view) {
            setBar(bar, pct, view.progress.percent);
            row.dataset.job = view.id;
          }
          const state = view ? view.state : row.dataset.jobState || "pending";
          row.dataset.jobState = state;
          setText(result, "p1.result_job", { id: shortId(row.dataset.job || ""), state: stateLabel(state), polls, unchanged });
        }, scaled(500));
        if (view.state !== "completed") throw new Error(view.error || view.state);
      }
      row.dataset.state = "done";
    } catch (error) {
      row.dataset.state = "error";
      setText(result, "playground.error", { error: error.message ?? String(error) }, "bad");
    }
    await nextFrame();  // the first frame after the work: its gap is the freeze, if there was one
    watchers.delete(watch);
    row.dataset.maxGap = String(Math.round(watch.maxGap));
    row.dataset.frames = String(watch.frames);
    setText(row.querySelector(".pause"), "p1.pause", { ms: Math.round(watch.maxGap) }, watch.maxGap > 250 ? "bad" : "good");
  }

  buttons[0].onclick = () => run("worker");
  buttons[1].onclick = () => run("queue");
  buttons[2].onclick = () => run("main");
}
