CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"secret_hash" text NOT NULL,
	"create_time" bigint NOT NULL,
	"expire_time" bigint,
	"revoke_time" bigint,
	"rotate_time" bigint,
	"previous_secret_hash" text,
	"previous_secret_expire_time" bigint,
	"last_used_time" bigint,
	"rate_limit_per_second" bigint,
	"rate_limit_burst" bigint
);
--> statement-breakpoint
CREATE TABLE "audit_entries" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_entries_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"time" bigint NOT NULL,
	"actor_key_id" text NOT NULL,
	"method" text NOT NULL,
	"target_type" text NOT NULL,
	"target_id" text NOT NULL,
	"request_id" text NOT NULL,
	"changes" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "create_requests" (
	"request_id" text PRIMARY KEY NOT NULL,
	"fingerprint" text NOT NULL,
	"event_id" text NOT NULL,
	"create_time" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "event_changes" (
	"sequence" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "event_changes_sequence_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"time" bigint NOT NULL,
	"message" "bytea" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "event_counters" (
	"event_id" text NOT NULL,
	"name" text NOT NULL,
	"value" bigint NOT NULL,
	CONSTRAINT "event_counters_event_id_name_pk" PRIMARY KEY("event_id","name")
);
--> statement-breakpoint
CREATE TABLE "event_runs" (
	"event_id" text NOT NULL,
	"run_number" integer NOT NULL,
	"start_time" bigint NOT NULL,
	"end_time" bigint NOT NULL,
	"ended_early" boolean DEFAULT false NOT NULL,
	"start_announced" boolean NOT NULL,
	"end_announced" boolean NOT NULL,
	"finalized" boolean DEFAULT false NOT NULL,
	"participants" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "event_runs_event_id_run_number_pk" PRIMARY KEY("event_id","run_number")
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" text PRIMARY KEY NOT NULL,
	"title" text NOT NULL,
	"description" text NOT NULL,
	"start_time" bigint NOT NULL,
	"end_time" bigint NOT NULL,
	"rewards" text NOT NULL,
	"metadata" text,
	"version" bigint NOT NULL,
	"create_time" bigint NOT NULL,
	"update_time" bigint NOT NULL,
	"recurrence_rule" text,
	"run_duration_ms" bigint,
	"end_limit" bigint,
	"runs_revision" bigint DEFAULT 0 NOT NULL,
	"leaderboard" text,
	"counters_revision" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "reward_grants" (
	"id" text PRIMARY KEY NOT NULL,
	"event_id" text NOT NULL,
	"run_number" integer NOT NULL,
	"player_id" text NOT NULL,
	"rank" integer NOT NULL,
	"rewards" text NOT NULL,
	"grant_time" bigint NOT NULL,
	"claim_time" bigint
);
--> statement-breakpoint
CREATE TABLE "scores" (
	"event_id" text NOT NULL,
	"run_number" integer NOT NULL,
	"player_id" text NOT NULL,
	"score" bigint,
	"subscore" bigint,
	"reached_seq" bigint,
	"submissions" integer DEFAULT 0 NOT NULL,
	"metadata" text,
	"join_time" bigint NOT NULL,
	"update_time" bigint,
	"final_rank" integer,
	CONSTRAINT "scores_event_id_run_number_player_id_pk" PRIMARY KEY("event_id","run_number","player_id")
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"name" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "event_counters" ADD CONSTRAINT "event_counters_event_id_events_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."events"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "event_runs" ADD CONSTRAINT "event_runs_event_id_events_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."events"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "scores" ADD CONSTRAINT "scores_event_id_events_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."events"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_keys_create_time_idx" ON "api_keys" USING btree ("create_time");--> statement-breakpoint
CREATE INDEX "audit_entries_target_idx" ON "audit_entries" USING btree ("target_id","id");--> statement-breakpoint
CREATE INDEX "audit_entries_actor_idx" ON "audit_entries" USING btree ("actor_key_id","id");--> statement-breakpoint
CREATE INDEX "audit_entries_time_idx" ON "audit_entries" USING btree ("time");--> statement-breakpoint
CREATE INDEX "event_runs_event_end_idx" ON "event_runs" USING btree ("event_id","end_time");--> statement-breakpoint
CREATE INDEX "event_runs_start_pending_idx" ON "event_runs" USING btree ("start_time") WHERE "event_runs"."start_announced" = false;--> statement-breakpoint
CREATE INDEX "event_runs_end_pending_idx" ON "event_runs" USING btree ("end_time") WHERE "event_runs"."end_announced" = false;--> statement-breakpoint
CREATE INDEX "events_start_time_id_idx" ON "events" USING btree ("start_time","id");--> statement-breakpoint
CREATE INDEX "events_end_time_idx" ON "events" USING btree ("end_time");--> statement-breakpoint
CREATE UNIQUE INDEX "reward_grants_run_player_idx" ON "reward_grants" USING btree ("event_id","run_number","player_id");--> statement-breakpoint
CREATE INDEX "reward_grants_player_idx" ON "reward_grants" USING btree ("player_id","grant_time","id");--> statement-breakpoint
CREATE INDEX "scores_final_rank_idx" ON "scores" USING btree ("event_id","run_number","final_rank");