import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { SubmitScoreRequest, SubmitScoreResponse } from "../../gen/liveops/v1/leaderboard_service_pb.js";
import type { Metrics } from "../metrics/metrics.js";

/** The codes of a submission refused by the run's rules or for what it asks (not for the server's trouble). */
const REFUSALS = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.ResourceExhausted,
  Code.OutOfRange,
]);

/** SubmitScore counted by outcome in `liveops_scores_submitted_total`: accepted, or rejected by a rule. */
export function countedSubmissions(
  metrics: Pick<Metrics, "scoresSubmitted">,
  submit: (req: SubmitScoreRequest, ctx: HandlerContext) => Promise<SubmitScoreResponse>,
) {
  const accepted = metrics.scoresSubmitted.labels("accepted");
  const rejected = metrics.scoresSubmitted.labels("rejected");
  return async (req: SubmitScoreRequest, ctx: HandlerContext): Promise<SubmitScoreResponse> => {
    try {
      const response = await submit(req, ctx);
      accepted.inc();
      return response;
    } catch (err) {
      if (err instanceof ConnectError && REFUSALS.has(err.code)) rejected.inc();
      throw err;
    }
  };
}
