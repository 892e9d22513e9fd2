// Owns: the differential test (byte-identical answers, Prescient against Postgres) with pool.pipeline on: every case
// of differential.test.ts again, with simple Queries riding shared (pipelined) server connections.
process.env.PRESCIENT_TEST_PIPELINE = '8';
await import('./differential.test.js');
