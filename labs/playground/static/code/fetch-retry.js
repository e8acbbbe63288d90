// 类比6: retry = fetch with retry = redelivery (快递重新投递).
// The seed's fetchWithRetry, with one fix: the seed only retries when fetch() throws
// (a network error). A 503 is an answer, not an exception, so the seed's loop would
// try again at once, without waiting, and finally return undefined. Here a bad
// status is thrown too, so it waits and retries like a network error.
export async function fetchWithRetry(url, options = {}, retries = 3, baseMs = 1000, onAttempt = () => {}) {
  for (let i = 0; i < retries; i++) {
    try {
      const response = await fetch(url, options);
      onAttempt({ attempt: i + 1, status: response.status, at: performance.now() });
      if (response.ok) return response;
      throw new Error(`HTTP ${response.status}`);
    } catch (error) {
      if (i === retries - 1) throw error;  // out of attempts: give up (退回寄件人)
      // 指数退避 exponential backoff: 1 s, 2 s, 4 s ... (baseMs follows LAB_TIME_SCALE here)
      await new Promise((r) => setTimeout(r, baseMs * 2 ** i));
    }
  }
}
