CREATE TABLE `cluster_changes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`txid` integer DEFAULT 0 NOT NULL,
	`time` integer NOT NULL,
	`kind` text NOT NULL,
	`subject` text NOT NULL,
	`body` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `cluster_changes_order_idx` ON `cluster_changes` (`txid`,`id`);--> statement-breakpoint
CREATE INDEX `cluster_changes_time_idx` ON `cluster_changes` (`time`);