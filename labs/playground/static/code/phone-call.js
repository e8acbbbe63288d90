// 类比2: WebSocket = a phone call (电话通话): both sides talk on one line.
// Progress comes in, "cancel" goes out; a heartbeat says "still there?";
// a dropped call is redialled with exponential backoff and picks up where it left off.

export class PhoneCall {
  constructor(jobId, { onFrame, onStatus, baseMs = 500, capMs = 10000, heartbeatMs = 15000, pingMs = 5000 }) {
    Object.assign(this, { jobId, onFrame, onStatus, baseMs, capMs, heartbeatMs, pingMs });
    this.lastEventId = null;  // the last event we heard: where to resume after a redial
    this.failures = 0;        // redials in a row without getting through
    this.over = false;        // the job ended (or we hung up): do not redial
  }

  dial() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const resume = this.lastEventId ? `?after=${encodeURIComponent(this.lastEventId)}` : "";
    const ws = (this.ws = new WebSocket(`${scheme}://${location.host}/ws/tasks/${this.jobId}${resume}`));
    this.onStatus("dialling");
    ws.onopen = () => {
      this.failures = 0;
      this.heard = performance.now();
      this.timer = setInterval(() => this.checkLine(), this.pingMs);
      this.onStatus("connected");
    };
    ws.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      this.heard = performance.now();
      if (frame.type === "event") this.lastEventId = frame.id;
      if (frame.type === "end") this.over = true;  // the server hangs up next (code 1000)
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      clearInterval(this.timer);
      const hopeless = event.code === 4404 || event.code === 4422;  // no such job, bad resume point
      if (this.over || hopeless) return this.onStatus("closed", event.code);
      const wait = Math.min(this.capMs, this.baseMs * 2 ** this.failures++);  // base, 2×base, 4×base ...
      this.onStatus("redialling", wait);
      setTimeout(() => this.dial(), wait);
    };
  }

  // Heartbeat: ping the other side; if nothing at all was heard for three
  // heartbeat intervals, the line is dead even if the socket has not noticed.
  checkLine() {
    if (performance.now() - this.heard > 3 * this.heartbeatMs) return this.ws.close(4000, "no heartbeat");
    this.send({ action: "ping", ts: performance.now() });
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  cancel() { this.send({ action: "cancel" }); }                 // client → server

  drop() { this.ws.close(4001, "simulated drop"); }            // play a dropped call: we redial

  hangUp() { this.over = true; this.ws.close(1000, "bye"); }   // 挂断电话: no redial
}
