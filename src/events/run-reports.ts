import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import { EventChangeType, type WatchEventsResponse } from "../../gen/liveops/v1/event_service_pb.js";
import type { Metrics } from "../metrics/metrics.js";
import type { GrantStore } from "../rewards/grant-store.js";

/** What the run reports need. */
export interface RunReportDeps {
  logger: Logger;
  metrics: Pick<Metrics, "runsStarted" | "runsEnded" | "boardsFinalized" | "grantsGiven">;
  grants: Pick<GrantStore, "runOutcome">;
}

/**
 * The log lines and counters of runs' lives — started, ended, board finalized, prizes granted — made from the
 * changes a write of this instance has committed. Each start and end is written once in a cluster (by the scheduler's
 * leader, or by the instance that served EndEvent), in the transaction that finalizes an ended run's board: so each
 * is reported once, by the instance that did it, and only once it is durable.
 */
export function createRunReports({ logger, metrics, grants }: RunReportDeps) {
  /** After an ended run's board was finalized: its outcome, read once committed. */
  const reportFinalized = async (fields: RunFields) => {
    metrics.boardsFinalized.inc();
    const outcome = await grants.runOutcome(fields.event_id, fields.run_number);
    if (!outcome) return;
    metrics.grantsGiven.inc(outcome.grants);
    logger.info(
      { ...fields, entries: outcome.participants, ranked: outcome.ranked, winners: outcome.grants },
      "board finalized",
    );
    if (outcome.grants > 0) {
      logger.info({ ...fields, players: outcome.grants, participants: outcome.participants }, "prizes granted");
    }
  };

  return {
    /**
     * Reports the STARTED and ENDED changes of a committed write, and the CREATED change of an event whose first run
     * is live at once (other changes are not runs' lives).
     */
    committed(changes: readonly WatchEventsResponse[]): void {
      for (const change of changes) {
        const { event } = change;
        // A run already live when its event is created started with that write: no STARTED change follows it.
        const startedWithEvent = change.type === EventChangeType.CREATED ? event?.currentRun : undefined;
        const run = change.run ?? startedWithEvent;
        if (!event || !run) continue;
        const fields: RunFields = { event_id: event.id, run_number: Number(run.runNumber), title: event.title };
        const times = {
          start_time: run.startTime && timestampDate(run.startTime).toISOString(),
          end_time: run.endTime && timestampDate(run.endTime).toISOString(),
        };
        if (change.type === EventChangeType.STARTED || startedWithEvent) {
          metrics.runsStarted.inc();
          logger.info({ ...fields, ...times }, "run started");
        } else if (change.type === EventChangeType.ENDED) {
          metrics.runsEnded.inc();
          logger.info({ ...fields, ...times, ended_early: run.endedEarly }, "run ended");
          if (event.leaderboard) {
            reportFinalized(fields).catch((err: unknown) =>
              logger.warn({ err, ...fields }, "a finalized run's outcome could not be read for its log line"),
            );
          }
        }
      }
    },
  };
}

/** The fields that name a run in its log lines. */
interface RunFields {
  event_id: string;
  run_number: number;
  title: string;
}

/** The run reports of one app. */
export type RunReports = ReturnType<typeof createRunReports>;
