-- bench-routing `update-tx`: BEGIN; UPDATE one volume of one account; read it back; END (pgbench -D accounts=A -D rows=R)
\set a random(1, :accounts)
\set v random(1, :rows)
BEGIN;
UPDATE volumes SET size_gib = size_gib + 1 WHERE account_id = :a AND id = :v;
SELECT size_gib FROM volumes WHERE account_id = :a AND id = :v;
END;
