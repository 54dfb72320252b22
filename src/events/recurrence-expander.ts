import { Worker } from "node:worker_threads";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorInfo, type FieldViolation } from "../errors.js";
import type { Recurrence } from "./recurrence.js";
import type { PlannedRun, PlanRequest } from "./run-planning.js";

/** A schedule to check (recurrence.ts checkRecurrence). */
export interface ScheduleCheck {
  recurrence: Recurrence;
  startTime: number;
  endLimit: number | undefined;
  /** The path of the event in the request, for the violations' fields. */
  prefix: string;
}

/**
 * Walks of a rule to do in the worker: a check of a schedule, then (if it has no violation) a plan of runs, which
 * replays the occurrences the check walked rather than walking them again.
 */
export interface ExpansionTask {
  check?: ScheduleCheck;
  plan?: PlanRequest;
}

/** The outcome of a task: the check's violations, and the plan's runs unless there were violations. */
export interface ExpansionResult {
  violations: FieldViolation[];
  runs: PlannedRun[] | undefined;
}
/** A task as posted to the worker. */
export interface ExpansionRequest {
  id: number;
  task: ExpansionTask;
}
/** The worker's answer to a task. */
export type ExpansionReply = { id: number; result: unknown } | { id: number; error: string } | { ready: true };

/** A rule whose walk did not finish in time: its occurrences are too sparse, too many, or never come. */
export class RecurrenceTooCostly extends Error {
  constructor(readonly timeoutMs: number) {
    super(`the rule's occurrences could not be computed within ${timeoutMs} ms`);
  }
}

/** Too many walks already waiting for a worker. */
export class RecurrenceQueueFull extends Error {
  /** The error the client gets: RESOURCE_EXHAUSTED (`RECURRENCE_BUSY`), worth retrying later. */
  toConnectError(): ConnectError {
    return new ConnectError(`the server is busy walking rules: ${this.message}`, Code.ResourceExhausted, undefined, [
      errorInfo("RECURRENCE_BUSY"),
    ]);
  }
}

/**
 * Walks recurrence rules off the event loop. rrule's iterator can loop without end or for seconds on rules whose
 * occurrences never come or are sparse (an INTERVAL that never meets its BYHOUR, a 31st of February): every walk
 * runs in a worker thread, and one that outlives its time is ended by terminating the thread, so no rule can stall
 * the server, whatever the library does.
 */
export interface RecurrenceExpander {
  /**
   * Runs `task` in a worker; RecurrenceTooCostly past its time limit, RecurrenceQueueFull when too many wait, and
   * the signal's reason once `signal` aborts (a walk whose caller has gone is dropped, or its thread ended).
   */
  walk(task: ExpansionTask, options?: WalkOptions): Promise<ExpansionResult>;
  /** The violations of a schedule, like `walk` with a check alone. */
  checkRecurrence(check: ScheduleCheck, options?: WalkOptions): Promise<FieldViolation[]>;
  /** The runs of a plan (run-planning.ts planRuns), like `walk` with a plan alone. */
  planRuns(request: PlanRequest, options?: WalkOptions): Promise<PlannedRun[]>;
  /** Ends the workers; walks in flight or queued fail. */
  close(): Promise<void>;
}

/**
 * What a walk is for. `write` (checks and plans of writes, the scheduler's next runs) goes first and may use every
 * worker; `read` (ListEventRuns pages) waits behind every write, runs on one worker at most, with a shorter time
 * limit and a shorter queue: readers can slow other readers, never a write.
 */
export type WalkPriority = "write" | "read";

/** How a walk is run. */
export interface WalkOptions {
  priority?: WalkPriority;
  /** The caller's signal (its deadline, its client going away). */
  signal?: AbortSignal;
  /** Who asks (an API key's id): one caller may hold a fair share of a queue, not all of it. */
  owner?: string;
}

/** Options of {@link createRecurrenceExpander}. */
export interface RecurrenceExpanderOptions {
  /** The longest one walk of a write may take. */
  timeoutMs: number;
  /** The longest one walk of a read may take. */
  readTimeoutMs: number;
  /** Worker threads at most, started when needed; reads use one of them at most. */
  workers: number;
  /** Walks of writes that may wait for a worker; more are refused with RecurrenceQueueFull, as are more than half of
   * a queue (either) from one owner. */
  maxQueued: number;
  /** Walks of reads that may wait. */
  maxQueuedReads: number;
}

interface Job {
  task: ExpansionTask;
  priority: WalkPriority;
  owner: string | undefined;
  signal: AbortSignal | undefined;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

interface Slot {
  worker: Worker;
  /** The walk in progress, and the id it was posted with. */
  job: Job | undefined;
  jobId: number;
  timer: NodeJS.Timeout | undefined;
  /** Whether the worker has loaded its code: a walk's time counts from then. */
  ready: boolean;
}

/**
 * A new worker thread. From the compiled code it runs recurrence-worker.js; from the TypeScript sources (tests,
 * tsx) it loads recurrence-worker.ts through tsx, a development dependency.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./recurrence-worker.js", import.meta.url));
  const entry = JSON.stringify(new URL("./recurrence-worker.ts", import.meta.url).href);
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  return new Worker(`import(${tsx}).then((tsx) => tsx.tsImport(${entry}, ${entry}));`, { eval: true });
}

/** Creates the pool of worker threads that walks rules, each walk bounded in time. */
export function createRecurrenceExpander(options: RecurrenceExpanderOptions): RecurrenceExpander {
  const slots: Slot[] = [];
  const queues: Record<WalkPriority, Job[]> = { write: [], read: [] };
  /** The owners with walks waiting in each queue, in the order of their turns. */
  const turns: Record<WalkPriority, (string | undefined)[]> = { write: [], read: [] };

  /** Takes `job` out of its queue, and its owner out of the turns when it has no other walk waiting there. */
  const unqueue = (job: Job) => {
    const queue = queues[job.priority];
    queue.splice(queue.indexOf(job), 1);
    if (!queue.some((j) => j.owner === job.owner)) {
      const order = turns[job.priority];
      order.splice(order.indexOf(job.owner), 1);
    }
  };
  let nextId = 0;
  let closed = false;

  const retire = (slot: Slot) => {
    const index = slots.indexOf(slot);
    if (index >= 0) slots.splice(index, 1);
    if (slot.timer) clearTimeout(slot.timer);
    void slot.worker.terminate();
  };

  const finish = (slot: Slot, settle: (job: Job) => void) => {
    const job = slot.job;
    if (slot.timer) clearTimeout(slot.timer);
    slot.job = undefined;
    slot.timer = undefined;
    if (job) {
      job.signal?.removeEventListener("abort", abortListeners.get(job) as () => void);
      settle(job);
    }
  };

  const spawn = (): Slot => {
    const worker = startWorker();
    // The pool never keeps the process alive: a server that closes, or a CLI, exits without closing it.
    worker.unref();
    const slot: Slot = { worker, job: undefined, jobId: -1, timer: undefined, ready: false };
    worker.on("message", (reply: ExpansionReply) => {
      if ("ready" in reply) {
        slot.ready = true;
        if (slot.job) startClock(slot);
        return;
      }
      if (reply.id !== slot.jobId) return;
      finish(slot, (job) => ("error" in reply ? job.reject(new Error(reply.error)) : job.resolve(reply.result)));
      dispatch();
    });
    const fail = (err: Error) => {
      if (!slots.includes(slot)) return;
      retire(slot);
      finish(slot, (job) => job.reject(err));
      dispatch();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the recurrence worker exited (code ${code})`)));
    slots.push(slot);
    return slot;
  };

  const startClock = (slot: Slot) => {
    const limit = slot.job?.priority === "read" ? options.readTimeoutMs : options.timeoutMs;
    slot.timer = setTimeout(() => {
      // The walk may be in an endless loop: only ending the thread stops it.
      retire(slot);
      finish(slot, (late) => late.reject(new RecurrenceTooCostly(limit)));
      dispatch();
    }, limit);
  };

  const run = (slot: Slot, job: Job) => {
    const id = nextId++;
    slot.jobId = id;
    slot.job = job;
    if (slot.ready) startClock(slot);
    slot.worker.postMessage({ id, task: job.task } satisfies ExpansionRequest);
  };

  /**
   * The next walk to run: writes first; a read only while no other read runs. Within a queue, owners take turns,
   * each its oldest walk: one owner's burst delays another's walk by at most one walk of each owner waiting.
   */
  const nextJob = (): Job | undefined => {
    const takeTurn = (priority: WalkPriority): Job | undefined => {
      const owner = turns[priority].shift();
      const job = queues[priority].find((j) => j.owner === owner);
      if (!job) return undefined;
      // To the back of the turns; unqueue takes it out again if this was its last walk waiting.
      turns[priority].push(owner);
      unqueue(job);
      return job;
    };
    if (queues.write.length > 0) return takeTurn("write");
    const readsRunning = slots.filter((s) => s.job?.priority === "read").length;
    return readsRunning === 0 ? takeTurn("read") : undefined;
  };

  function dispatch() {
    while (!closed) {
      const idle = slots.find((s) => s.job === undefined);
      if (!idle && slots.length >= options.workers) return;
      const job = nextJob();
      if (!job) return;
      run(idle ?? spawn(), job);
    }
  }

  /** The abort listener of each job, removed once it settles. */
  const abortListeners = new WeakMap<Job, () => void>();
  const onAbort = (job: Job) => () => {
    if (queues[job.priority].includes(job)) {
      unqueue(job);
      job.reject(job.signal?.reason);
      return;
    }
    const slot = slots.find((s) => s.job === job);
    if (!slot) return;
    // Nobody waits for this walk any more: end its thread rather than let it hold a worker to its time limit.
    retire(slot);
    finish(slot, (gone) => gone.reject(gone.signal?.reason));
    dispatch();
  };

  const walk = (task: ExpansionTask, walkOptions: WalkOptions = {}): Promise<ExpansionResult> =>
    new Promise<ExpansionResult>((resolve, reject) => {
      const { priority = "write", signal, owner } = walkOptions;
      if (closed) return reject(new ConnectError("the server is shutting down", Code.Unavailable));
      if (signal?.aborted) return reject(signal.reason);
      const queue = queues[priority];
      const max = priority === "read" ? options.maxQueuedReads : options.maxQueued;
      if (queue.length >= max) {
        return reject(new RecurrenceQueueFull(`${queue.length} rule walks are already waiting; retry later`));
      }
      const share = Math.max(1, Math.floor(max / 2));
      if (owner !== undefined && queue.filter((j) => j.owner === owner).length >= share) {
        return reject(new RecurrenceQueueFull(`this caller already has ${share} rule walks waiting`));
      }
      const job: Job = { task, priority, owner, signal, resolve: resolve as (value: unknown) => void, reject };
      if (signal) {
        const listener = onAbort(job);
        abortListeners.set(job, listener);
        signal.addEventListener("abort", listener, { once: true });
      }
      queue.push(job);
      if (!turns[priority].includes(owner)) turns[priority].push(owner);
      dispatch();
    });

  return {
    walk,
    async checkRecurrence(check, walkOptions) {
      return (await walk({ check }, walkOptions)).violations;
    },
    async planRuns(plan, walkOptions) {
      return (await walk({ plan }, walkOptions)).runs ?? [];
    },
    async close() {
      closed = true;
      const error = new ConnectError("the server is shutting down", Code.Unavailable);
      turns.write = [];
      turns.read = [];
      for (const job of [...queues.write.splice(0), ...queues.read.splice(0)]) job.reject(error);
      for (const slot of [...slots]) {
        retire(slot);
        finish(slot, (job) => job.reject(error));
      }
    },
  };
}
