-- The PostgreSQL peer of the side-by-side benchmark (`cargo xtask bench-peers`):
-- what a competent team builds instead of Cairn, an append-only, hash-chained
-- table of decisions.
--
-- * One row per decision. The decision as sent is kept whole in `record`
--   (jsonb); `stream`, `subject` and `event_time` are copied out of it by the
--   trigger, so the indexed columns always agree with the hashed record.
-- * A BEFORE INSERT trigger chains every row to the one before:
--     hash = SHA-256(prev_hash ‖ int8send(seq) ‖ UTF-8 of record::text)
--   with prev_hash the previous row's hash (32 zero bytes for seq 0), using
--   pgcrypto's digest(). The trigger, not the client, assigns `seq` (0, 1, 2, …
--   without gaps), after taking a transaction-scoped advisory lock: concurrent
--   inserters are serialised from their first row until they commit, so no two
--   rows can claim the same predecessor and the chain order is the seq order.
--   jsonb's text form is deterministic, so the hash can be recomputed later from
--   what is stored, by SQL (`decisions_verify()`) or by a client.
-- * Append-only: UPDATE, DELETE and TRUNCATE are refused by triggers and
--   revoked from PUBLIC. (A superuser can still disable triggers: that is what
--   the chain is for — `decisions_verify()` finds what was changed.)
-- * Indexes: the primary key on seq (the chain order, and the trigger's lookup
--   of the previous row) and (subject, event_time) for "this customer's hour".
-- * Durability is the server's: fsync = on, synchronous_commit = on, so a
--   COPY or INSERT is acknowledged only once its commit record is on disk.
--
-- Appending: `COPY decisions (record) FROM STDIN`, one transaction per batch;
-- rows are chained in the order they are sent.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE decisions (
    seq         bigint      PRIMARY KEY,
    stream      text        NOT NULL,
    subject     text,
    event_time  timestamptz,
    record      jsonb       NOT NULL,
    prev_hash   bytea       NOT NULL,
    hash        bytea       NOT NULL
);

CREATE INDEX decisions_subject_time ON decisions (subject, event_time);

-- Chains one row. The advisory lock's key is any constant shared by all
-- inserters (this one is 'cairn' in ASCII, as a big-endian integer).
CREATE FUNCTION decisions_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    last_seq  bigint;
    last_hash bytea;
BEGIN
    PERFORM pg_advisory_xact_lock(426836062830);
    SELECT seq, hash INTO last_seq, last_hash
      FROM decisions ORDER BY seq DESC LIMIT 1;
    NEW.seq        := coalesce(last_seq + 1, 0);
    NEW.prev_hash  := coalesce(last_hash, decode(repeat('00', 32), 'hex'));
    NEW.stream     := NEW.record->>'stream';
    NEW.subject    := NEW.record->>'subject';
    NEW.event_time := (NEW.record->>'event_time')::timestamptz;
    NEW.hash       := digest(NEW.prev_hash || int8send(NEW.seq)
                             || convert_to(NEW.record::text, 'UTF8'), 'sha256');
    RETURN NEW;
END $$;

CREATE TRIGGER decisions_chain BEFORE INSERT ON decisions
    FOR EACH ROW EXECUTE FUNCTION decisions_chain();

CREATE FUNCTION decisions_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'decisions is append-only: % refused', TG_OP;
END $$;

CREATE TRIGGER decisions_no_change BEFORE UPDATE OR DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION decisions_refuse();
CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON decisions
    FOR EACH STATEMENT EXECUTE FUNCTION decisions_refuse();
REVOKE UPDATE, DELETE, TRUNCATE ON decisions FROM PUBLIC;

-- Recompute the whole chain in one query: every row's hash from its stored
-- fields, every row's link to the row before, and the seq sequence without
-- gaps. An intact table gives bad_hash = bad_link = gaps = 0.
CREATE FUNCTION decisions_verify(
    OUT rows bigint, OUT bad_hash bigint, OUT bad_link bigint, OUT gaps bigint,
    OUT bad_columns bigint)
LANGUAGE sql STABLE AS $$
    SELECT count(*),
           count(*) FILTER (WHERE hash <> digest(prev_hash || int8send(seq)
                                   || convert_to(record::text, 'UTF8'), 'sha256')),
           count(*) FILTER (WHERE prev_hash <> coalesce(before_hash, decode(repeat('00', 32), 'hex'))),
           count(*) FILTER (WHERE seq <> coalesce(before_seq + 1, 0)),
           count(*) FILTER (WHERE stream IS DISTINCT FROM record->>'stream'
                               OR subject IS DISTINCT FROM record->>'subject')
      FROM (SELECT seq, stream, subject, record, prev_hash, hash,
                   lag(hash) OVER (ORDER BY seq) AS before_hash,
                   lag(seq)  OVER (ORDER BY seq) AS before_seq
              FROM decisions) AS chain
$$;
