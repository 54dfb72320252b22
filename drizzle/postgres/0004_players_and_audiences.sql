CREATE TABLE "audiences" (
	"name" text PRIMARY KEY NOT NULL,
	"description" text NOT NULL,
	"expression" text NOT NULL,
	"include_ids" text NOT NULL,
	"exclude_ids" text NOT NULL,
	"create_time" bigint NOT NULL,
	"update_time" bigint NOT NULL,
	"version" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "event_audiences" (
	"event_id" text NOT NULL,
	"audience_name" text NOT NULL,
	"excluded" boolean NOT NULL,
	CONSTRAINT "event_audiences_event_id_audience_name_pk" PRIMARY KEY("event_id","audience_name")
);
--> statement-breakpoint
CREATE TABLE "player_token_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"secret" text NOT NULL,
	"create_time" bigint NOT NULL,
	"retire_time" bigint
);
--> statement-breakpoint
CREATE TABLE "players" (
	"id" text PRIMARY KEY NOT NULL,
	"properties" text NOT NULL,
	"create_time" bigint NOT NULL,
	"update_time" bigint NOT NULL,
	"version" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "audiences" text;--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "excluded_audiences" text;--> statement-breakpoint
ALTER TABLE "event_audiences" ADD CONSTRAINT "event_audiences_event_id_events_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."events"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "event_audiences" ADD CONSTRAINT "event_audiences_audience_name_audiences_name_fk" FOREIGN KEY ("audience_name") REFERENCES "public"."audiences"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "event_audiences_audience_idx" ON "event_audiences" USING btree ("audience_name");