# ruff: noqa: E501  (a table of sentences: one per line reads better than wrapped)
"""Every word the dashboard shows, in 中文 and English, with the seed's analogies.

The seed explains each concept three ways: the backend concept, a front-end
analogy and a daily-life analogy (job id = 快递单号, dead-letter queue =
退件处理中心, ...). :data:`ANALOGIES` keeps the three side by side, and every
element on the dashboard carries its one-line :func:`analogy` caption.

:func:`t` looks a key up; a missing key raises ``KeyError`` (a test checks that
every key the pages use exists in both languages).
"""

from __future__ import annotations

from typing import Any

from ..states import LABELS

LANGUAGES: dict[str, str] = {"zh": "中文", "en": "English"}
DEFAULT = "zh"

# concept -> (backend concept, front-end analogy, daily-life analogy), per language
ANALOGIES: dict[str, dict[str, tuple[str, str, str]]] = {
    "queue": {
        "zh": ("任务队列", "Web Worker", "快递分拣中心"),
        "en": ("task queue", "Web Worker", "a parcel sorting centre"),
    },
    "submit": {
        "zh": ("提交任务 .delay()", "worker.postMessage()", "寄快递"),
        "en": ("submitting a job (.delay())", "worker.postMessage()", "sending a parcel"),
    },
    "job_id": {
        "zh": ("任务ID", "Promise 对象", "快递单号"),
        "en": ("job id", "a Promise you keep", "a parcel's tracking number"),
    },
    "states": {
        "zh": ("任务状态机", "Promise 状态", "快递物流状态"),
        "en": ("task state machine", "Promise states", "parcel tracking status"),
    },
    "worker": {
        "zh": ("Worker 进程", "Web Worker 线程", "快递配送员"),
        "en": ("worker process", "a Web Worker thread", "a courier"),
    },
    "broker": {
        "zh": ("消息代理（Redis）", "消息队列", "快递分拣系统"),
        "en": ("message broker (Redis)", "a message queue", "the parcel routing system"),
    },
    "progress": {
        "zh": ("进度推送", "xhr.upload.onprogress", "下载进度条"),
        "en": ("progress updates", "xhr.upload.onprogress", "a download progress bar"),
    },
    "retry": {
        "zh": ("重试（指数退避）", "fetch 重试", "快递重新投递"),
        "en": ("retry with exponential backoff", "fetch retry", "redelivery of a parcel"),
    },
    "dlq": {
        "zh": ("死信队列", "Error Boundary", "退件处理中心"),
        "en": ("dead-letter queue", "an Error Boundary", "the returns centre"),
    },
    "timeout": {
        "zh": ("任务超时", "setTimeout", "快递超时退回"),
        "en": ("job timeout", "setTimeout", "a parcel returned after its time limit"),
    },
    "websocket": {
        "zh": ("WebSocket 双向通信", "WebSocket API", "电话通话"),
        "en": ("WebSocket, two-way", "the WebSocket API", "a phone call"),
    },
    "sse": {
        "zh": ("SSE 服务器推送", "EventSource API", "广播电台"),
        "en": ("server-sent events", "the EventSource API", "a radio station"),
    },
    "polling": {
        "zh": ("轮询", "setInterval + fetch", "定期查看订单状态"),
        "en": ("polling", "setInterval + fetch", "checking your order status every so often"),
    },
    "throughput": {
        "zh": ("吞吐量", "每秒完成的 Promise", "每秒签收的包裹"),
        "en": ("throughput", "Promises settled per second", "parcels signed for per second"),
    },
    "cancel": {
        "zh": ("取消任务", "AbortController.abort()", "寄件人撤回快递"),
        "en": ("cancelling a job", "AbortController.abort()", "the sender calling the parcel back"),
    },
    "redrive": {
        "zh": ("重新执行失败任务", "修好后重新 render", "修改地址重新投递"),
        "en": ("redrive a failed job", "re-render after the fix", "redelivery with a corrected address"),
    },
    "abandoned": {
        "zh": ("失联任务恢复", "worker.onerror", "配送员失联，包裹转给别人"),
        "en": ("abandoned-job recovery", "worker.onerror", "a courier vanishes, the parcel goes to another"),
    },
    "heartbeat": {
        "zh": ("心跳", "ping / pong", "电话里问一句“还在吗？”"),
        "en": ("heartbeat", "ping / pong", "asking “are you still there?” on the phone"),
    },
}

_COLUMN_LABELS: dict[str, dict[str, str]] = {
    **{state: LABELS[state] for state in ("pending", "running", "completed", "failed", "unknown")},
    "retrying": {"zh": "等待重新投递 / 重试中", "en": "retrying (redelivery booked)"},
    "dead_lettered": {"zh": "退件处理中心 / 死信", "en": "dead-lettered (returns centre)"},
}

STRINGS: dict[str, dict[str, str]] = {
    # app frame
    "app.title": {"zh": "长任务实验室", "en": "Long-Task Lab"},
    "app.tagline": {
        "zh": "真实的任务、真实的 Worker：看快递（任务）从下单到签收或退件的每一步",
        "en": "Real jobs on real workers: watch each parcel (job) from hand-in to signed-for or returned",
    },
    "lang.label": {"zh": "语言 / Language", "en": "Language / 语言"},
    "page.board": {"zh": "寄件与实时看板", "en": "Submit & live board"},
    "page.job": {"zh": "快递详情（任务详情）", "en": "Job detail"},
    "page.dlq": {"zh": "重试与退件处理中心", "en": "Retries & dead-letter queue"},
    "page.workers": {"zh": "配送员（Workers）", "en": "Workers"},
    "page.channels": {"zh": "三种通知方式", "en": "Channels: WebSocket · SSE · polling"},
    "sidebar.broker": {"zh": "分拣系统（消息代理）：{url}", "en": "Broker: {url}"},
    "sidebar.scale": {"zh": "时钟倍率 LAB_TIME_SCALE = {scale}", "en": "Clock scale LAB_TIME_SCALE = {scale}"},
    "sidebar.playground": {
        "zh": "🧪 前端对照实验场（浏览器里运行的类比）",
        "en": "🧪 Front-end playground (the analogies in your browser)",
    },
    "sidebar.live": {"zh": "实时刷新", "en": "Live refresh"},
    "sidebar.live_help": {
        "zh": "关闭后画面停住，方便讲解；打开后每秒读取新的事件",
        "en": "Off freezes the screen for explaining; on reads new events every second",
    },
    "analogy.fmt": {
        "zh": "类比：{life} · 前端：{frontend} · 后端：{backend}",
        "en": "Like {life} · front end: {frontend} · backend: {backend}",
    },
    # errors
    "err.broker": {"zh": "连不上分拣系统（消息代理）：{error}", "en": "The broker cannot be reached: {error}"},
    "err.no_engine_worker": {
        "zh": "{engine} 的任务在排队，但没有它的配送员（no worker for engine {engine}）：用 `python -m labs worker --engine {engine}` 启动一个",
        "en": "jobs wait in the queue, but there is no worker for engine {engine}: start one with `python -m labs worker --engine {engine}`",
    },
    "err.no_worker": {
        "zh": "没有配送员在岗（no worker is listening）：用 `python -m labs worker` 启动一个",
        "en": "no worker is listening: start one with `python -m labs worker`",
    },
    "err.api_down": {
        "zh": "API 没有运行（{url}）：用 `python -m labs api` 启动它",
        "en": "the API is not running at {url}: start it with `python -m labs api`",
    },
    "err.unknown_job": {"zh": "没有这个快递单号：{id}", "en": "No job with this id: {id}"},
    "err.bad_json": {"zh": "不是合法的 JSON：{error}", "en": "Not valid JSON: {error}"},
    "btn.start_worker_now": {"zh": "现在启动一个配送员", "en": "Start a worker now"},
    # submit
    "submit.header": {"zh": "寄快递：提交任务", "en": "Send parcels: submit jobs"},
    "submit.task": {"zh": "任务（目录中的一种）", "en": "Task (from the catalogue)"},
    "submit.engine": {"zh": "引擎（谁来送：RQ 或 Celery）", "en": "Engine (who delivers: RQ or Celery)"},
    "submit.params": {"zh": "参数", "en": "Parameters"},
    "submit.retry": {"zh": "重试策略（快递重新投递）", "en": "Retry policy (redelivery)"},
    "submit.max_retries": {"zh": "最多重试次数", "en": "Max retries"},
    "submit.base": {"zh": "第一次等待（秒）", "en": "First wait (s)"},
    "submit.factor": {"zh": "每次乘以", "en": "Factor"},
    "submit.cap": {"zh": "最长等待（秒）", "en": "Cap (s)"},
    "submit.jitter": {"zh": "随机抖动（full jitter）", "en": "Full jitter"},
    "submit.timeout": {"zh": "超时（秒）：快递超时退回", "en": "Timeout (s): returned when late"},
    "submit.batch": {"zh": "一批寄几件", "en": "Batch size"},
    "submit.poison_share": {"zh": "有毒数据的比例（必然失败）", "en": "Share of poison inputs (always fail)"},
    "submit.poison_help": {
        "zh": '这一批中这么多比例的任务收到 {{"poison": true}}：重试也没用，最后进退件处理中心',
        "en": 'This share of the batch gets {{"poison": true}}: retries cannot help, they end in the returns centre',
    },
    "submit.plan": {"zh": "计划的重试等待：{plan}", "en": "Planned redelivery waits: {plan}"},
    "submit.button": {"zh": "寄出 {n} 件", "en": "Submit {n} job(s)"},
    "submit.done": {"zh": "已寄出 {n} 件，快递单号：{ids}", "en": "Submitted {n} job(s), tracking numbers: {ids}"},
    "submit.samples": {"zh": "生成示例 PDF", "en": "Make sample PDFs"},
    "submit.no_documents": {"zh": "文档文件夹里还没有 PDF：{path}", "en": "No PDFs in the documents folder yet: {path}"},
    "submit.json_help": {"zh": "JSON 格式", "en": "JSON"},
    # task parameters (the names are the API's; the words say what they mean)
    "param.value": {"zh": "value（原样返回的值，JSON）", "en": "value (returned as is, JSON)"},
    "param.steps": {"zh": "steps（步数）", "en": "steps"},
    "param.step_seconds": {"zh": "step_seconds（每步秒数）", "en": "step_seconds (seconds per step)"},
    "param.to": {"zh": "to（收件人）", "en": "to (recipient)"},
    "param.subject": {"zh": "subject（主题）", "en": "subject"},
    "param.body": {"zh": "body（正文）", "en": "body"},
    "param.failure_rate": {"zh": "failure_rate（每次投递失败的概率）", "en": "failure_rate (chance an attempt fails)"},
    "param.fail_first": {"zh": "fail_first（前几次必然失败）", "en": "fail_first (the first N attempts fail)"},
    "param.duration": {"zh": "duration（每次耗时，秒）", "en": "duration (seconds per attempt)"},
    "param.data": {"zh": "data（要处理的记录，JSON）", "en": "data (the record, JSON)"},
    "param.fail_fast": {
        "zh": "fail_fast（有毒数据直接进退件中心，不重试）",
        "en": "fail_fast (poison goes straight to the DLQ, no retries)",
    },
    "param.document": {"zh": "document（PDF 文件）", "en": "document (a PDF)"},
    "param.documents": {"zh": "documents（多个 PDF）", "en": "documents (PDFs)"},
    "param.limit": {"zh": "limit（最多登记几件）", "en": "limit (how many to log)"},
    # board
    "board.header": {"zh": "实时看板：每个快递在哪一步", "en": "Live board: where every parcel is"},
    "board.total": {"zh": "全部任务", "en": "All jobs"},
    "board.throughput": {"zh": "吞吐量（件/秒，近 {window} 秒）", "en": "Throughput (jobs/s, last {window} s)"},
    "board.workers": {"zh": "在岗配送员", "en": "Live workers"},
    "board.tick": {
        "zh": "本次刷新 {ms:.0f} ms · 已读事件 {read} · 最新事件 {last}",
        "en": "this tick {ms:.0f} ms · events read {read} · last event {last}",
    },
    "board.behind": {
        "zh": "正在读取历史事件：{read} / {total}（每次刷新读一部分，画面不会卡住）",
        "en": "Catching up on history: {read} / {total} events (a slice per tick, so the page never freezes)",
    },
    "board.more": {"zh": "…还有 {n} 件", "en": "… {n} more"},
    "board.empty_col": {"zh": "（空）", "en": "(empty)"},
    "board.table": {"zh": "最近更新的任务", "en": "Recently updated jobs"},
    "board.gantt": {"zh": "时间线：每位配送员送了哪些快递（每次投递一根条）", "en": "Timeline: which worker ran which attempt"},
    "board.feed": {"zh": "最新事件", "en": "Latest events"},
    "board.open": {"zh": "打开一个快递的详情", "en": "Open a job's detail"},
    "board.open_btn": {"zh": "查看详情", "en": "Open"},
    "board.no_jobs": {"zh": "还没有任务：在上面寄出一批试试", "en": "No jobs yet: submit a batch above"},
    "board.next_try": {"zh": "{s:.1f} 秒后重投", "en": "retry in {s:.1f} s"},
    # short column names for the board's column headers
    "short.pending": {"zh": "已下单·等待", "en": "pending"},
    "short.running": {"zh": "运输中·执行", "en": "running"},
    "short.retrying": {"zh": "待重投·重试", "en": "retrying"},
    "short.completed": {"zh": "已签收·完成", "en": "completed"},
    "short.failed": {"zh": "派送失败", "en": "failed"},
    "short.dead_lettered": {"zh": "退件中心·死信", "en": "dead-lettered"},
    "short.unknown": {"zh": "未知状态", "en": "unknown"},
    "submit.more": {"zh": "⚙️ 参数 · 重试策略 · 超时", "en": "⚙️ Parameters · retry policy · timeout"},
    # table columns
    "col.id": {"zh": "快递单号", "en": "job id"},
    "col.task": {"zh": "任务", "en": "task"},
    "col.column": {"zh": "状态", "en": "status"},
    "col.attempt": {"zh": "第几次投递", "en": "attempt"},
    "col.worker": {"zh": "配送员", "en": "worker"},
    "col.student": {"zh": "学生", "en": "student"},
    "col.progress": {"zh": "进度", "en": "progress"},
    "col.message": {"zh": "消息", "en": "message"},
    "col.event": {"zh": "事件", "en": "event"},
    "col.state": {"zh": "状态", "en": "state"},
    "col.time": {"zh": "时间（秒）", "en": "time (s)"},
    "col.reason": {"zh": "原因", "en": "reason"},
    "col.error": {"zh": "错误", "en": "error"},
    "col.attempts": {"zh": "投递次数", "en": "attempts"},
    "col.failed_at": {"zh": "退回时间", "en": "returned at"},
    "col.started": {"zh": "开始", "en": "started"},
    "col.ended": {"zh": "结束", "en": "ended"},
    "col.outcome": {"zh": "结果", "en": "outcome"},
    "col.next_delay": {"zh": "下次等待（秒）", "en": "next wait (s)"},
    "col.name": {"zh": "名字", "en": "name"},
    "col.kind": {"zh": "类型", "en": "kind"},
    "col.current_job": {"zh": "正在送的快递", "en": "current job"},
    "col.successful": {"zh": "送达", "en": "done"},
    "col.failed_count": {"zh": "失败", "en": "failed"},
    "col.pid": {"zh": "进程号", "en": "pid"},
    # job detail
    "job.header": {"zh": "快递详情：一个任务的一生", "en": "Job detail: one job's life"},
    "job.pick": {"zh": "快递单号（任务ID）", "en": "Tracking number (job id)"},
    "job.recent": {"zh": "或从最近的任务里选", "en": "or pick a recent job"},
    "job.none": {"zh": "输入或选择一个快递单号", "en": "Enter or pick a job id"},
    "job.state": {"zh": "当前状态", "en": "Current state"},
    "job.attempt": {"zh": "投递次数", "en": "Attempt"},
    "job.diagram": {"zh": "状态机：这件快递走过的路（粗线）", "en": "State machine: the path this job took (bold)"},
    "job.progress": {"zh": "进度", "en": "Progress"},
    "job.timeline": {"zh": "事件时间线", "en": "Event timeline"},
    "job.retries": {"zh": "重试：计划的等待 vs 实际的等待", "en": "Retries: planned wait vs actual wait"},
    "job.no_retries": {"zh": "这个任务没有重试", "en": "This job was not retried"},
    "job.retry_note": {
        "zh": "秒数按演示时钟换算（真实秒数 ÷ LAB_TIME_SCALE）。实际等待比计划长一点：RQ 的调度器大约每秒（真实时间）才检查一次哪些重投到期了",
        "en": "Seconds on the demo clock (real seconds ÷ LAB_TIME_SCALE). Actual waits run a little longer than planned: RQ's scheduler looks for due redeliveries about once a second (real time)",
    },
    "job.attempts": {"zh": "每次投递", "en": "Attempts"},
    "job.cancel": {"zh": "取消这个任务", "en": "Cancel this job"},
    "job.cancelled": {"zh": "已请求取消，现在状态：{state}", "en": "Cancel requested, state now: {state}"},
    "job.result": {"zh": "结果", "en": "Result"},
    "job.error": {"zh": "错误：{error}（原因：{reason}）", "en": "Error: {error} (reason: {reason})"},
    "job.redrive_of": {"zh": "这是 {id} 的重新投递", "en": "This is a redrive of {id}"},
    "job.redriven_to": {"zh": "已重新投递为 {id}", "en": "Redriven as {id}"},
    "job.in_dlq": {"zh": "这件快递在退件处理中心", "en": "This job is in the dead-letter queue"},
    "job.open_other": {"zh": "打开 {id}", "en": "Open {id}"},
    "job.params": {"zh": "参数", "en": "Parameters"},
    # retries & DLQ
    "dlq.header": {"zh": "重试与退件处理中心", "en": "Retries & the dead-letter queue"},
    "dlq.retrying": {"zh": "正在等待重新投递", "en": "Waiting for redelivery"},
    "dlq.no_retrying": {"zh": "现在没有等待重投的快递", "en": "Nothing is waiting for redelivery"},
    "dlq.count": {"zh": "退件处理中心里的快递", "en": "Jobs in the dead-letter queue"},
    "dlq.empty": {"zh": "退件处理中心是空的", "en": "The dead-letter queue is empty"},
    "dlq.pick": {"zh": "选择一件退件", "en": "Pick a returned job"},
    "dlq.why": {"zh": "为什么被退回：{reason} — {error}", "en": "Why it came back: {reason} — {error}"},
    "dlq.history": {"zh": "每次投递的记录", "en": "Attempt history"},
    "dlq.redrive": {"zh": "重新投递", "en": "Redrive"},
    "dlq.redrive_params": {"zh": "修改后的参数（JSON，可改“地址”）", "en": "Corrected parameters (JSON: fix the address)"},
    "dlq.redriven": {"zh": "已重新投递，新快递单号 {id}", "en": "Redriven as a new job {id}"},
    "dlq.discard": {"zh": "丢弃（退回寄件人）", "en": "Discard (return to sender)"},
    "dlq.discarded": {"zh": "已丢弃 {id}", "en": "Discarded {id}"},
    "dlq.purge": {"zh": "清空退件处理中心", "en": "Purge the dead-letter queue"},
    "dlq.purge_confirm": {"zh": "我确定要全部丢弃", "en": "Yes, discard them all"},
    "dlq.purged": {"zh": "已丢弃 {n} 件", "en": "Discarded {n} job(s)"},
    "dlq.sweep": {"zh": "派一个 handle_failed_tasks 任务去登记退件", "en": "Run handle_failed_tasks to log the returns"},
    "dlq.swept": {"zh": "已提交登记任务 {id}", "en": "Submitted the sweep job {id}"},
    "dlq.log": {"zh": "登记簿（handle_failed_tasks 记下的）", "en": "Failure log (written by handle_failed_tasks)"},
    "dlq.showing": {"zh": "显示最新的 {shown} / {total} 件", "en": "Showing the newest {shown} of {total}"},
    # workers
    "workers.header": {"zh": "配送员：真实的 Worker 进程", "en": "Workers: real worker processes"},
    "workers.none": {"zh": "没有配送员在岗", "en": "No worker is running"},
    "workers.kind": {"zh": "类型", "en": "Kind"},
    "workers.start": {"zh": "再派一名配送员", "en": "Start another worker"},
    "workers.started": {"zh": "已启动 {name}（几秒后出现在表里）", "en": "Started {name} (it shows up in a few seconds)"},
    "workers.pick": {"zh": "选择配送员", "en": "Pick a worker"},
    "workers.stop": {"zh": "让他下班（送完手上这件）", "en": "Stop (after the current job)"},
    "workers.stopped": {"zh": "已请 {name} 下班", "en": "Asked {name} to stop"},
    "workers.kill": {"zh": "让他突然失联（kill -9）", "en": "Kill mid-job (kill -9)"},
    "workers.killed": {
        "zh": "已杀掉 {name}（进程 {pids}）。它手上的快递 {job} 会被发现失联并重新投递：看下面",
        "en": "Killed {name} (pids {pids}). Its job {job} will be found abandoned and redelivered: watch below",
    },
    "workers.killed_idle": {
        "zh": "已杀掉 {name}（进程 {pids}），它手上没有快递",
        "en": "Killed {name} (pids {pids}); it had no job",
    },
    "workers.recovery": {"zh": "失联快递的恢复过程：{id}", "en": "Recovery of the abandoned job {id}"},
    "workers.recovery_help": {
        "zh": "配送员的心跳停了；另一位配送员定期巡检，发现失联的快递就按重试策略重新投递",
        "en": "The worker's heartbeat stopped; another worker's periodic check finds the job abandoned and redelivers it per its retry policy",
    },
    "workers.gantt": {"zh": "每位配送员的投递时间线", "en": "Attempts per worker"},
    "workers.idle": {"zh": "空闲", "en": "idle"},
    # channels
    "channels.header": {"zh": "同一件快递，三种通知方式", "en": "One job, three ways to be told"},
    "channels.api": {"zh": "API 地址：{url}", "en": "API: {url}"},
    "channels.task": {"zh": "用来观察的任务", "en": "Job to watch"},
    "channels.steps": {"zh": "步数", "en": "Steps"},
    "channels.step_seconds": {"zh": "每步秒数", "en": "Seconds per step"},
    "channels.start": {"zh": "提交并同时用三种方式观察", "en": "Submit and watch on all three channels"},
    "channels.watch_id": {"zh": "或观察已有的快递单号", "en": "or watch an existing job id"},
    "channels.watch": {"zh": "观察", "en": "Watch"},
    "channels.stop": {"zh": "停止观察", "en": "Stop watching"},
    "channels.job": {"zh": "正在观察：{id}", "en": "Watching: {id}"},
    "channels.status": {"zh": "连接：{status}", "en": "Connection: {status}"},
    "channels.events": {"zh": "收到事件", "en": "Events seen"},
    "channels.missed": {"zh": "漏掉", "en": "Missed"},
    "channels.delay": {"zh": "延迟（中位 / 最大，ms）", "en": "Delay (median / max, ms)"},
    "channels.reconnects": {"zh": "重连次数", "en": "Reconnects"},
    "channels.requests": {"zh": "请求数 / 304 未变", "en": "Requests / 304 not modified"},
    "channels.cut": {"zh": "剪断连接", "en": "Cut the connection"},
    "channels.redial": {"zh": "重拨并续传（resume）", "en": "Redial and resume"},
    "channels.cut_poll": {
        "zh": "轮询没有长连接可剪：每次都是新请求",
        "en": "Polling has no connection to cut: every poll is a new request",
    },
    "channels.chart": {"zh": "每个事件的送达延迟", "en": "Delivery delay of each event"},
    "channels.lesson": {
        "zh": "剪断后：广播（SSE）自己重连，并用 Last-Event-ID 接着听，一条不漏；电话（WebSocket）断了就断了，客户端要自己重拨，并发送 resume 说明从哪接着讲",
        "en": "After a cut: the radio (SSE) reconnects by itself and resumes with Last-Event-ID, missing nothing; the phone call (WebSocket) stays dropped until the client redials and sends resume",
    },
    "ch.websocket": {"zh": "WebSocket · 电话", "en": "WebSocket · phone call"},
    "ch.sse": {"zh": "SSE · 广播电台", "en": "SSE · radio"},
    "ch.polling": {"zh": "轮询 · 定期查物流", "en": "Polling · checking the order"},
    "status.idle": {"zh": "未开始", "en": "not started"},
    "status.connecting": {"zh": "连接中", "en": "connecting"},
    "status.open": {"zh": "已连接", "en": "connected"},
    "status.reconnecting": {"zh": "自动重连中", "en": "reconnecting by itself"},
    "status.dropped": {"zh": "已断线：需要客户端重拨", "en": "dropped: the client must redial"},
    "status.polling": {"zh": "定期查询中", "en": "polling"},
    "status.done": {"zh": "结束（任务已到终态）", "en": "finished (job reached a final state)"},
    "status.error": {"zh": "出错：{error}", "en": "error: {error}"},
    "status.stopped": {"zh": "已停止", "en": "stopped"},
    # charts
    "chart.seconds_ago": {"zh": "秒（0 = 现在）", "en": "seconds (0 = now)"},
    "chart.seconds_since": {"zh": "下单后的秒数", "en": "seconds after hand-in"},
    "chart.worker": {"zh": "配送员", "en": "worker"},
    "chart.outcome": {"zh": "这次投递的结果", "en": "how the attempt ended"},
    "chart.retry_n": {"zh": "第几次重投", "en": "retry #"},
    "chart.wait_s": {"zh": "等待（演示秒）", "en": "wait (demo seconds)"},
    "chart.event_seq": {"zh": "事件序号", "en": "event #"},
    "chart.delay_ms": {"zh": "延迟（毫秒）", "en": "delay (ms)"},
    "retry.planned": {"zh": "计划等待", "en": "planned wait"},
    "retry.actual": {"zh": "实际等待", "en": "actual wait"},
    "edge.pickup": {"zh": "揽收（开始执行）", "en": "picked up"},
    "edge.retry": {"zh": "投递失败，预约重投", "en": "failed, redelivery booked"},
    "edge.complete": {"zh": "签收", "en": "signed for"},
    "edge.fail": {"zh": "派送失败", "en": "delivery failed"},
    "edge.cancel": {"zh": "揽收前撤回", "en": "called back before pickup"},
    "outcome.running": {"zh": "派送中", "en": "running"},
    "outcome.completed": {"zh": "签收", "en": "completed"},
    "outcome.retry": {"zh": "失败→重投", "en": "failed → retry"},
    "outcome.timed_out": {"zh": "超时", "en": "timed out"},
    "outcome.abandoned": {"zh": "配送员失联", "en": "abandoned"},
    "outcome.cancelled": {"zh": "撤回", "en": "cancelled"},
    "outcome.failed": {"zh": "最终失败", "en": "failed"},
    # events
    "event.enqueued": {"zh": "已下单（入队）", "en": "enqueued"},
    "event.started": {"zh": "已揽收（开始）", "en": "started"},
    "event.progress": {"zh": "运输中（进度）", "en": "progress"},
    "event.retry_scheduled": {"zh": "预约重新投递", "en": "retry scheduled"},
    "event.timed_out": {"zh": "超时", "en": "timed out"},
    "event.abandoned": {"zh": "配送员失联", "en": "abandoned"},
    "event.completed": {"zh": "已签收", "en": "completed"},
    "event.failed": {"zh": "派送失败", "en": "failed"},
    "event.cancelled": {"zh": "寄件人撤回", "en": "cancelled"},
    "event.dead_lettered": {"zh": "送往退件处理中心", "en": "dead-lettered"},
    "event.redriven": {"zh": "重新投递（新单号）", "en": "redriven"},
    "event.discarded": {"zh": "丢弃", "en": "discarded"},
    **{f"col.{column}": labels for column, labels in _COLUMN_LABELS.items()},
}


def t(key: str, lang: str = DEFAULT, /, **values: Any) -> str:
    """The text for ``key`` in ``lang`` (``zh`` or ``en``), formatted with ``values``."""
    entry = STRINGS[key]
    text = entry.get(lang) or entry[DEFAULT]
    return text.format(**values)


def analogy(concept: str, lang: str = DEFAULT) -> str:
    """The one-line caption an element carries: daily life · front end · backend."""
    backend, frontend, life = ANALOGIES[concept][lang if lang in LANGUAGES else DEFAULT]
    return t("analogy.fmt", lang, life=life, frontend=frontend, backend=backend)


def concept_title(concept: str, lang: str = DEFAULT) -> str:
    """``backend = daily life``, e.g. ``死信队列 = 退件处理中心``."""
    backend, _, life = ANALOGIES[concept][lang if lang in LANGUAGES else DEFAULT]
    return f"{backend} = {life}"


def param_label(name: str, lang: str = DEFAULT) -> str:
    """A task parameter's label: its API name with what it means."""
    key = f"param.{name}"
    return t(key, lang) if key in STRINGS else name


def column_label(column: str, lang: str = DEFAULT) -> str:
    """A board column's label (the four states, retrying, dead-lettered, or unknown)."""
    key = f"col.{column}"
    return t(key, lang) if key in STRINGS else column


def short_label(column: str, lang: str = DEFAULT) -> str:
    """A board column's short name (for headers that must fit a projector)."""
    key = f"short.{column}"
    return t(key, lang) if key in STRINGS else column


def event_label(event: str, lang: str = DEFAULT) -> str:
    key = f"event.{event}"
    return t(key, lang) if key in STRINGS else event
