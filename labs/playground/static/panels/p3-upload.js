// Panel 3 · progress ↔ XHR upload progress: upload a PDF (bar 1), then follow its processing job (bar 2).
import { followProgress, uploadWithProgress } from "../code/upload.js";
import { setText } from "../i18n.js";
import { $, addLog, bytes, setBar, shortId, stateLabel } from "../ui.js";

export function mount(section) {
  const uploadBar = $(section, "upload-bar");
  const jobBar = $(section, "job-bar");
  const log = $(section, "log");
  const buttons = [$(section, "upload-file"), $(section, "upload-sample")];

  async function upload(file) {
    for (const button of buttons) button.disabled = true;
    section.dataset.state = "uploading";
    setBar(uploadBar, $(section, "upload-pct"), 0);
    setBar(jobBar, $(section, "job-pct"), 0);
    setText($(section, "job-text"), "p3.waiting");
    log.replaceChildren();
    const started = performance.now();
    let events = 0;
    const trace = [];
    try {
      const answer = await uploadWithProgress(file, (loaded, total) => {
        events += 1;
        trace.push(loaded);
        section.dataset.uploadTrace = trace.join(",");
        setBar(uploadBar, $(section, "upload-pct"), (100 * loaded) / total);
        const text = setText($(section, "upload-text"), "p3.uploaded", { loaded: bytes(loaded), total: bytes(total), events });
        addLog(log, `+${Math.round(performance.now() - started)} ms  ${text}`);
      });
      section.dataset.uploadEvents = String(events);
      const job = answer.jobs[0].id;
      section.dataset.job = job;
      section.dataset.state = "processing";
      setText($(section, "job-text"), "p3.job", { id: shortId(job), name: answer.documents[0].name });
      const end = await followProgress(job, (progress) => {
        setBar(jobBar, $(section, "job-pct"), progress.percent);
        setText($(section, "job-text"), "p3.job_progress", { id: shortId(job), done: progress.done, total: progress.total, message: progress.message });
        addLog(log, `+${Math.round(performance.now() - started)} ms  job ${progress.done}/${progress.total}: ${progress.message}`, "job");
      });
      section.dataset.state = end.state;
      setText($(section, "job-text"), "p3.job_end", { id: shortId(job), state: stateLabel(end.state) }, end.state === "completed" ? "good" : "bad");
    } catch (error) {
      section.dataset.state = "error";
      setText($(section, "upload-text"), "playground.error", { error: error.message }, "bad");
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }

  buttons[0].onclick = () => {
    const file = $(section, "file").files[0];
    if (!file) return setText($(section, "upload-text"), "p3.no_file", {}, "bad");
    upload(file);
  };
  buttons[1].onclick = async () => {
    const mb = $(section, "sample-mb").value;
    setText($(section, "upload-text"), "p3.making_sample", { mb });
    const response = await fetch(`/playground/api/sample.pdf?mb=${mb}`, { cache: "no-store" });
    const blob = await response.blob();
    upload(new File([blob], "sample-handbook.pdf", { type: "application/pdf" }));
  };
}
