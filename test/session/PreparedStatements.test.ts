// Owns: StatementNames / PreparedStatements: one server name per text, new names after retireAll, a bounded memory of texts.
import t from 'tap';
import { PreparedStatements } from '../../proxy/session/PreparedStatements.js';
import { StatementNames } from '../../proxy/context/StatementNames.js';

const rest = (sql: string): Buffer => Buffer.concat([Buffer.from(sql + '\0', 'latin1'), Buffer.from([0, 0])]);

t.test('the same bytes get the same server name; other bytes another', async (t) => {
  const names = new StatementNames();
  t.equal(names.statementFor(rest('select 1')), names.statementFor(rest('select 1')));
  t.not(names.statementFor(rest('select 1')).name, names.statementFor(rest('select 1 ')).name);
  t.ok(names.owns(names.statementFor(rest('select 2')).name), 'server names carry the reserved prefix');
});

t.test('retireAll: the next Parse of a text gets a new name, clients keep theirs', async (t) => {
  const names = new StatementNames();
  const a = new PreparedStatements(names);
  const before = a.add('s', rest('select 1'), 'select 1');
  names.retireAll();
  t.ok(before.server.retired, 'the old statement is retired');
  t.not(names.statementFor(rest('select 1')).name, before.serverName, 'a new name');
  t.equal(a.get('s')?.serverName, before.serverName, 'the client keeps its statement');
});

t.test('at most maxTexts texts are remembered, least recently parsed forgotten first', async (t) => {
  const names = new StatementNames('prescient_', 2);
  const one = names.statementFor(rest('select 1'));
  names.statementFor(rest('select 2'));
  t.equal(names.statementFor(rest('select 1')), one, 'a hit makes a text the most recently parsed');
  names.statementFor(rest('select 3')); // forgets "select 2"
  t.equal(names.size, 2);
  t.equal(names.statementFor(rest('select 1')), one, 'the recently used text is kept');
  t.not(names.statementFor(rest('select 2')).name, 'prescient_2', 'a forgotten text gets a new name at its next Parse');
});
