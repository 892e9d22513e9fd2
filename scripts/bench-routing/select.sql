-- bench-routing `select`: one account's volumes (pgbench -D accounts=A; :a is a $n parameter under -M extended/prepared, a literal under -M simple)
\set a random(1, :accounts)
SELECT id, state, size_gib FROM volumes WHERE account_id = :a;
