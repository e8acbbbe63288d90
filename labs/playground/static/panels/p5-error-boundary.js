// Panel 5 · dead-letter queue ↔ Error Boundary: the same poison record breaks a component
// (its boundary shows the fallback UI) and a job (the worker files it in the dead-letter queue).
import { errorBoundary, ParcelCard, redrive, sendRiskyParcel } from "../code/error-boundary.js";
import { followJob } from "../code/lab-api.js";
import { lang, setText, t } from "../i18n.js";
import { $, addLog, el, shortId, stateLabel } from "../ui.js";

export function mount(section) {
  const boundary = $(section, "boundary");
  const errorLog = $(section, "error-log");
  const jobLog = $(section, "job-log");
  const fix = $(section, "fix");
  let record = null;
  let returned = null;

  const fallback = (error) => {
    const box = el("div", { className: "fallback" }, el("h4"), el("p", { textContent: error.message }));
    setText(box.firstElementChild, "p5.fallback");
    return box;
  };
  const render = () =>
    errorBoundary(boundary, () => ParcelCard(record), {
      fallback,
      logError: (error) => addLog(errorLog, `${new Date().toLocaleTimeString(lang() === "zh" ? "zh-CN" : "en-GB")}  ${error.message}`, "bad"),
    });

  const logEvent = (event) => {
    const attempt = event.attempt > 0 ? ` · ${t("p5.attempt", { n: event.attempt })}` : "";
    const text = `${event.event} · ${stateLabel(event.state)}${attempt}${event.error ? ` · ${event.error}` : ""}`;
    addLog(jobLog, text, event.state === "failed" ? "bad" : event.state === "completed" ? "good" : "");
    setText($(section, "job-state"), "p5.job_state", { id: shortId(event.job_id), state: stateLabel(event.state) });
  };

  $(section, "run").onclick = async () => {
    record = { name: $(section, "name").value || "parcel", poison: $(section, "poison").checked };
    fix.disabled = true;
    returned = null;
    errorLog.replaceChildren();
    jobLog.replaceChildren();
    $(section, "dlq").replaceChildren();
    $(section, "fix-result").textContent = "";
    // front end: render inside the boundary
    section.dataset.front = render() ? "rendered" : "fallback";
    // back end: the same record as a risky_task job
    setText($(section, "job-state"), "p5.sending");
    try {
      const outcome = await sendRiskyParcel(record, logEvent);
      section.dataset.job = outcome.id;
      section.dataset.jobState = outcome.end.state;
      returned = outcome.returned;
      if (returned) {
        section.dataset.dlq = "yes";
        const box = $(section, "dlq");
        const title = el("h4");
        setText(title, "p5.in_dlq");
        const details = el("p");
        setText(details, "p5.dlq_entry", { reason: returned.reason, attempts: returned.attempts, error: returned.error });
        box.replaceChildren(title, details);
        fix.disabled = false;
      } else {
        section.dataset.dlq = "no";
      }
    } catch (error) {
      setText($(section, "job-state"), "playground.error", { error: error.message }, "bad");
    }
  };

  // 人工处理: fix the record, then render again / deliver again (a new job, linked to the old one)
  fix.onclick = async () => {
    fix.disabled = true;
    record = { ...record, poison: false };
    section.dataset.front = render() ? "rendered" : "fallback";
    try {
      const newId = await redrive(returned.id, { data: record });
      section.dataset.redrive = newId;
      setText($(section, "fix-result"), "p5.redriven", { old: shortId(returned.id), id: shortId(newId) });
      const note = el("p");
      setText(note, "p5.dlq_redriven", { id: shortId(newId) }, "good");
      $(section, "dlq").append(note);
      const separator = el("li", { className: "job" });
      setText(separator, "p5.new_job", { id: shortId(newId) });
      jobLog.append(separator);
      const end = await followJob(newId, logEvent);
      section.dataset.redriveState = end.state;
      setText($(section, "fix-result"), "p5.redrive_end", { id: shortId(newId), state: stateLabel(end.state) }, end.state === "completed" ? "good" : "bad");
    } catch (error) {
      setText($(section, "fix-result"), "playground.error", { error: error.message }, "bad");
    }
  };
}
