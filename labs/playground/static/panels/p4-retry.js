// Panel 4 · retry ↔ fetch with exponential backoff: fetchWithRetry against an endpoint that fails
// on purpose, beside a send_email job the worker redelivers. Both timelines on one time axis.
import { fetchWithRetry } from "../code/fetch-retry.js";
import { followJob, scaled, submitJob, TIME_SCALE } from "../code/lab-api.js";
import { onLangChange, setText, t } from "../i18n.js";
import { $, addLog, secs, shortId } from "../ui.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Draw both lanes. Each lane: a list of {t (demo seconds since its first attempt), ok, attempt}.
 * `planned`: the planned start of each attempt (0, 1, 3, 7 ...), drawn as ticks on both lanes.
 */
function draw(plot, lanes, planned) {
  const width = 640;
  const left = 150;
  const right = 20;
  const end = Math.max(1, ...planned, ...lanes.flatMap((lane) => lane.points.map((p) => p.t))) * 1.08;
  const x = (seconds) => left + ((width - left - right) * seconds) / end;
  plot.replaceChildren();
  const axisY = 170;
  plot.append(svg("line", { x1: left, x2: width - right, y1: axisY, y2: axisY, class: "axis" }));
  const step = end > 12 ? 2 : end > 6 ? 1 : 0.5;
  for (let s = 0; s <= end; s += step) {
    plot.append(svg("line", { x1: x(s), x2: x(s), y1: 20, y2: axisY, class: "grid" }));
    plot.append(svg("text", { x: x(s), y: axisY + 15, class: "tick" }, `${s} s`));
  }
  lanes.forEach((lane, index) => {
    const y = 55 + index * 65;
    plot.append(svg("text", { x: 8, y: y + 4, class: "lane" }, lane.label));
    plot.append(svg("line", { x1: left, x2: width - right, y1: y, y2: y, class: "lane-line" }));
    for (const at of planned) plot.append(svg("line", { x1: x(at), x2: x(at), y1: y - 16, y2: y + 16, class: "planned" }));
    lane.points.forEach((point, i) => {
      const next = lane.points[i + 1];
      if (next) {
        plot.append(svg("line", { x1: x(point.t), x2: x(next.t), y1: y, y2: y, class: "wait" }));
        if (x(next.t) - x(point.t) > 46) {  // label a wait only where it fits
          plot.append(svg("text", { x: (x(point.t) + x(next.t)) / 2, y: y - 8, class: "wait-label" }, secs(next.t - point.t)));
        }
      }
      plot.append(svg("circle", { cx: x(point.t), cy: y, r: 9, class: point.ok ? "ok" : "fail" }));
      plot.append(svg("text", { x: x(point.t), y: y + 4, class: "mark" }, String(point.attempt)));
    });
  });
}

export function mount(section) {
  const plot = $(section, "plot");
  const button = $(section, "run");
  let redraw = () => {};
  onLangChange(() => redraw());

  button.onclick = async () => {
    button.disabled = true;
    const fail = Number($(section, "fail").value) || 0;
    const maxRetries = Number($(section, "retries").value) || 0;
    const key = `retry-${Date.now()}`;
    const waits = Array.from({ length: maxRetries }, (_, n) => 2 ** n);  // demo seconds: 1, 2, 4 ...
    const planned = [0, ...waits.map((_, n) => waits.slice(0, n + 1).reduce((a, b) => a + b, 0))];
    setText($(section, "plan"), "p4.plan", { fail, attempts: maxRetries + 1, waits: waits.map((w) => `${w} s`).join(", ") || "–" });
    for (const role of ["fetch-log", "job-log"]) $(section, role).replaceChildren();
    for (const role of ["fetch-result", "job-result"]) $(section, role).textContent = "…";
    const lanes = [
      { label: t("p4.lane_fetch"), points: [] },
      { label: t("p4.lane_job"), points: [] },
    ];
    redraw = () => {
      lanes[0].label = t("p4.lane_fetch");
      lanes[1].label = t("p4.lane_job");
      draw(plot, lanes, planned.slice(0, Math.min(planned.length, fail + 1)));
    };
    redraw();
    const demo = (ms) => ms / 1000 / TIME_SCALE;  // real milliseconds → demo seconds

    // The browser side: the seed's fetchWithRetry. Its `retries` counts attempts: 1 + max_retries.
    let first = null;
    const times = [];
    const fetched = fetchWithRetry(`/playground/api/flaky?key=${key}&fail=${fail}`, { cache: "no-store" }, maxRetries + 1, scaled(1000, 1), (attempt) => {
      first ??= attempt.at;
      lanes[0].points.push({ t: demo(attempt.at - first), ok: attempt.status === 200, attempt: attempt.attempt });
      addLog($(section, "fetch-log"), t("p4.fetch_attempt", { n: attempt.attempt, status: attempt.status, at: secs(demo(attempt.at - first)) }), attempt.status === 200 ? "good" : "bad");
      section.dataset.fetchStatuses = lanes[0].points.map((p) => (p.ok ? 200 : 503)).join(",");
      times.push(attempt.at);
      section.dataset.fetchGapsMs = times.slice(1).map((at, i) => Math.round(at - times[i])).join(",");
      redraw();
    }).then(
      async (response) => {
        const body = await response.json();
        section.dataset.fetchOutcome = "ok";
        setText($(section, "fetch-result"), "p4.fetch_ok", { n: body.attempt }, "good");
      },
      (error) => {
        section.dataset.fetchOutcome = "failed";
        setText($(section, "fetch-result"), "p4.fetch_failed", { error: error.message }, "bad");
      },
    );

    // The worker side: send_email fails its first `fail` attempts; the worker redelivers it.
    const job = (async () => {
      const id = await submitJob("send_email", { to: "student@example.com", subject: "playground", fail_first: fail }, { retry: { max_retries: maxRetries } });
      section.dataset.job = id;
      let start = null;
      const seen = [];
      const end = await followJob(id, (event) => {
        if (!["started", "retry_scheduled", "completed", "failed"].includes(event.event)) return;
        seen.push(event.event);
        section.dataset.jobEvents = seen.join(" ");
        start ??= event.ts;
        const at = demo((event.ts - start) * 1000);
        if (event.event === "started") {
          addLog($(section, "job-log"), t("p4.job_started", { n: event.attempt, at: secs(at) }));
          return;
        }
        const ok = event.event === "completed";
        lanes[1].points.push({ t: at, ok, attempt: event.attempt });
        const key = event.event === "retry_scheduled" ? "p4.job_retry" : ok ? "p4.job_ok" : "p4.job_failed";
        addLog($(section, "job-log"), t(key, { n: event.attempt, at: secs(at), delay: event.delay }), ok ? "good" : "bad");
        redraw();
      });
      section.dataset.jobState = end.state;
      const attempts = lanes[1].points.length;
      section.dataset.jobAttempts = String(attempts);
      setText($(section, "job-result"), end.state === "completed" ? "p4.job_done" : "p4.job_gave_up", { id: shortId(id), n: attempts }, end.state === "completed" ? "good" : "bad");
    })().catch((error) => setText($(section, "job-result"), "playground.error", { error: error.message }, "bad"));

    await Promise.all([fetched, job]);
    const log = await (await fetch(`/playground/api/flaky/log?key=${key}`, { cache: "no-store" })).json();
    section.dataset.serverCount = String(log.count);
    const statuses = log.attempts.map((a) => a.status).join(", ");
    addLog($(section, "fetch-log"), t("p4.server_saw", { count: log.count, statuses }));
    section.dataset.done = "true";
    button.disabled = false;
  };
}
