// Panel 6 · WebSocket = a phone call: progress in, cancel out, heartbeat, and a redial with backoff.
import { scaled, submitJob, TIME_SCALE } from "../code/lab-api.js";
import { PhoneCall } from "../code/phone-call.js";
import { setText } from "../i18n.js";
import { $, addLog, checkSeqs, setBar, shortId, stateLabel } from "../ui.js";

export function mount(section) {
  const buttons = Object.fromEntries(["call", "drop", "cancel", "hangup"].map((role) => [role, $(section, role)]));
  const log = $(section, "log");
  let call = null;

  function summary(frame) {
    if (frame.type === "event") {
      const progress = frame.progress ? ` ${frame.progress.done}/${frame.progress.total}` : "";
      return `#${frame.seq} ${frame.event}${progress} · ${stateLabel(frame.state)}`;
    }
    if (frame.type === "snapshot") return `${stateLabel(frame.job.state)} · ${frame.job.progress.percent} %`;
    if (frame.type === "pong") return `rtt ${Math.round(performance.now() - frame.echo)} ms`;
    if (frame.type === "ack") return `${frame.action} → ${frame.state ?? frame.after ?? ""}`;
    if (frame.type === "end") return `${stateLabel(frame.state)}`;
    return frame.error ?? "";
  }

  buttons.call.onclick = async () => {
    call?.hangUp();
    const steps = Number($(section, "steps").value) || 30;
    const stepSeconds = Number($(section, "step-seconds").value) || 1;
    const id = await submitJob("slow_task", { steps, step_seconds: stepSeconds });
    const counts = { redials: 0, heartbeats: 0, pongs: 0 };
    const seqs = [];
    let lastEvent = null;
    log.replaceChildren();
    setBar($(section, "bar"), $(section, "pct"), 0);
    Object.assign(section.dataset, { job: id, outcome: "", redials: "0", heartbeats: "0", pongs: "0", seqs: "" });
    for (const role of ["redials", "heartbeats", "pongs"]) $(section, role).textContent = "0";
    setText($(section, "outcome"), "p6.in_progress", { id: shortId(id) });

    call = new PhoneCall(id, {
      baseMs: scaled(1000, 50),                     // redial after 1 s, 2 s, 4 s ... (demo seconds)
      capMs: scaled(30000, 500),
      heartbeatMs: Math.max(100, 15000 * TIME_SCALE),  // the server's heartbeat: 15 demo seconds
      pingMs: scaled(5000, 100),
      onFrame(frame) {
        addLog(log, `${frame.type}  ${summary(frame)}`, `f-${frame.type}`);
        if (frame.type === "event") {
          seqs.push(frame.seq);
          lastEvent = frame;
          if (frame.progress) setBar($(section, "bar"), $(section, "pct"), frame.progress.percent);
          const check = checkSeqs(seqs);
          section.dataset.seqs = seqs.join(",");
          setText($(section, "events"), check.ok ? "p6.events_ok" : "p6.events_bad", { n: seqs.length, dups: check.duplicates.join(",") || "–", gaps: check.gaps.join(",") || "–" }, check.ok ? "good" : "bad");
        } else if (frame.type === "heartbeat" || frame.type === "pong") {
          const key = frame.type === "heartbeat" ? "heartbeats" : "pongs";
          counts[key] += 1;
          section.dataset[key] = String(counts[key]);
          $(section, key).textContent = String(counts[key]);
        } else if (frame.type === "end") {
          const reason = lastEvent?.reason ? ` (${lastEvent.reason})` : "";
          section.dataset.outcome = `${frame.state}${lastEvent?.reason ? `:${lastEvent.reason}` : ""}`;
          setText($(section, "outcome"), "p6.ended", { state: stateLabel(frame.state), reason }, frame.state === "completed" ? "good" : "bad");
        }
      },
      onStatus(status, detail) {
        section.dataset.line = status;
        setText($(section, "line"), `p6.line_${status}`, { ms: Math.round(detail ?? 0), code: detail ?? "" });
        if (status === "redialling") {
          counts.redials += 1;
          section.dataset.redials = String(counts.redials);
          $(section, "redials").textContent = String(counts.redials);
          addLog(log, `✂  redial in ${Math.round(detail)} ms`, "f-drop");
        }
        const open = status === "connected";
        buttons.drop.disabled = !open;
        buttons.cancel.disabled = !open;
        buttons.hangup.disabled = status === "closed";
      },
    });
    call.dial();
  };
  buttons.drop.onclick = () => call?.drop();
  buttons.cancel.onclick = () => call?.cancel();
  buttons.hangup.onclick = () => call?.hangUp();
}
