"""PostgreSQL triggers that keep the ledger append-only and its chain unbroken.

1. UPDATE or DELETE of a ledger entry raises: corrections are new entries.
2. An inserted entry must continue its wallet's ledger: seq 1 starts at 0, seq n starts where
   seq n-1 ended.
3. A wallet's balance and entry_count may only move to its newest entry's after_balance and seq.

SQLite (the embedded default) relies on the services and on reconcile_wallets instead.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION wallets_ledgerentry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'wallet ledger entries are append-only: % of entry % is not allowed', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation', HINT = 'Write a correcting entry instead.';
END $$;

CREATE TRIGGER wallets_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON wallets_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION wallets_ledgerentry_append_only();

CREATE FUNCTION wallets_ledgerentry_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous_after bigint;
BEGIN
    IF NEW.seq = 1 THEN
        previous_after := 0;
    ELSE
        SELECT after_balance INTO previous_after FROM wallets_ledgerentry
            WHERE wallet_id = NEW.wallet_id AND seq = NEW.seq - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger entry % (seq %) has no predecessor in wallet %', NEW.id, NEW.seq, NEW.wallet_id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    IF NEW.before_balance <> previous_after THEN
        RAISE EXCEPTION 'ledger entry % starts at %, but wallet % stood at %', NEW.id, NEW.before_balance,
            NEW.wallet_id, previous_after USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER wallets_ledgerentry_chain
    BEFORE INSERT ON wallets_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION wallets_ledgerentry_chain();

CREATE FUNCTION wallets_wallet_follows_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    newest_after bigint;
BEGIN
    IF NEW.balance IS NOT DISTINCT FROM OLD.balance AND NEW.entry_count IS NOT DISTINCT FROM OLD.entry_count THEN
        RETURN NEW;
    END IF;
    SELECT after_balance INTO newest_after FROM wallets_ledgerentry
        WHERE wallet_id = NEW.id AND seq = NEW.entry_count;
    IF NOT FOUND OR newest_after <> NEW.balance OR EXISTS (
        SELECT 1 FROM wallets_ledgerentry WHERE wallet_id = NEW.id AND seq = NEW.entry_count + 1
    ) THEN
        RAISE EXCEPTION 'wallet % balance % does not match its newest ledger entry', NEW.id, NEW.balance
            USING ERRCODE = 'integrity_constraint_violation', HINT = 'Balances move only through ledger entries.';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER wallets_wallet_follows_ledger
    BEFORE UPDATE ON wallets_wallet
    FOR EACH ROW EXECUTE FUNCTION wallets_wallet_follows_ledger();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS wallets_wallet_follows_ledger ON wallets_wallet;
DROP FUNCTION IF EXISTS wallets_wallet_follows_ledger();
DROP TRIGGER IF EXISTS wallets_ledgerentry_chain ON wallets_ledgerentry;
DROP FUNCTION IF EXISTS wallets_ledgerentry_chain();
DROP TRIGGER IF EXISTS wallets_ledgerentry_append_only ON wallets_ledgerentry;
DROP FUNCTION IF EXISTS wallets_ledgerentry_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("wallets", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
