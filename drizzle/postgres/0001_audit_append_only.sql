-- The audit log is append-only: no code path may change or remove an entry, whatever bug or SQL reaches it
-- (the PostgreSQL form of drizzle/sqlite/0002_audit_append_only.sql). Only the table's owner can drop these triggers.
CREATE FUNCTION "audit_entries_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    RAISE EXCEPTION 'audit entries cannot be changed';
  END IF;
  RAISE EXCEPTION 'audit entries cannot be deleted';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "audit_entries_no_update" BEFORE UPDATE ON "audit_entries"
  FOR EACH ROW EXECUTE FUNCTION "audit_entries_append_only"();
--> statement-breakpoint
CREATE TRIGGER "audit_entries_no_delete" BEFORE DELETE ON "audit_entries"
  FOR EACH ROW EXECUTE FUNCTION "audit_entries_append_only"();
--> statement-breakpoint
-- TRUNCATE fires no row triggers: it needs a statement-level one.
CREATE TRIGGER "audit_entries_no_truncate" BEFORE TRUNCATE ON "audit_entries"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_entries_append_only"();
