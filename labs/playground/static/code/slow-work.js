// The slow computation: `steps` steps of `stepMs` milliseconds of real CPU work each
// (counting prime numbers), reporting progress after every step.
// It has the shape of the lab's slow_task(steps, step_seconds); the job sleeps instead,
// because a worker process blocking on sleep or on CPU looks the same from the outside.

function isPrime(n) {
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return n > 1;
}

export function slowWork(steps, stepMs, onProgress) {
  let n = 2;
  let primes = 0;
  for (let step = 1; step <= steps; step++) {
    const until = performance.now() + stepMs;
    while (performance.now() < until) {  // busy: this thread can do nothing else meanwhile
      if (isPrime(n++)) primes++;
    }
    onProgress({ done: step, total: steps, percent: (100 * step) / steps });
  }
  return { steps, primes, checked: n - 2 };
}
