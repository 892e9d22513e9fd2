-- schema.sql owns the control-plane schema of the workload: EC2-like resources, every row keyed by account_id, plus write_log.
create table if not exists accounts (
  id text primary key,
  account_id text not null,
  name text not null,
  persona text not null,
  tier text not null default 'standard',
  region text not null default 'us-east-1',
  attributes jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists accounts_account_idx on accounts (account_id);

-- generic_resources: what a replayed CloudTrail event of a service the catalogue does not model (s3, iam, ssm, …) reads
-- and writes; one row per account, service and resource name (a bucket/key, a role name, a parameter name, …)
create table if not exists generic_resources (
  account_id text not null,
  service text not null,
  resource text not null,
  attrs jsonb not null default '{}',
  updated_at timestamptz not null default now(),
  primary key (account_id, service, resource)
);

create table if not exists volumes (
  id text primary key,
  account_id text not null,
  state text not null,
  size_gib int not null,
  volume_type text not null,
  iops int,
  availability_zone text not null,
  encrypted boolean not null default false,
  snapshot_id text,
  tags jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists volumes_account_state_idx on volumes (account_id, state);
create index if not exists volumes_account_created_idx on volumes (account_id, created_at);

create table if not exists snapshots (
  id text primary key,
  account_id text not null,
  volume_id text,
  state text not null,
  size_gib int not null,
  progress int not null default 100,
  description text,
  tags jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists snapshots_account_state_idx on snapshots (account_id, state);
create index if not exists snapshots_account_volume_idx on snapshots (account_id, volume_id);

create table if not exists instances (
  id text primary key,
  account_id text not null,
  state text not null,
  instance_type text not null,
  image_id text,
  key_name text,
  availability_zone text not null,
  private_ip text,
  launch_time timestamptz not null default now(),
  tags jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists instances_account_state_idx on instances (account_id, state);
create index if not exists instances_account_type_idx on instances (account_id, instance_type);

create table if not exists volume_attachments (
  id text primary key,
  account_id text not null,
  volume_id text not null,
  instance_id text not null,
  device text not null,
  state text not null,
  tags jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists volume_attachments_account_volume_idx on volume_attachments (account_id, volume_id);
create index if not exists volume_attachments_account_instance_idx on volume_attachments (account_id, instance_id);

create table if not exists images (
  id text primary key,
  account_id text not null,
  name text not null,
  state text not null,
  architecture text not null,
  source_instance_id text,
  public boolean not null default false,
  tags jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists images_account_state_idx on images (account_id, state);

create table if not exists security_groups (
  id text primary key,
  account_id text not null,
  group_name text not null,
  description text not null,
  vpc_id text not null,
  ingress_rules jsonb not null default '[]',
  tags jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists security_groups_account_name_idx on security_groups (account_id, group_name);

create table if not exists key_pairs (
  id text primary key,
  account_id text not null,
  key_name text not null,
  key_type text not null,
  fingerprint text not null,
  tags jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists key_pairs_account_name_idx on key_pairs (account_id, key_name);

create table if not exists network_interfaces (
  id text primary key,
  account_id text not null,
  subnet_id text not null,
  private_ip text not null,
  mac_address text not null,
  status text not null,
  instance_id text,
  tags jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists network_interfaces_account_status_idx on network_interfaces (account_id, status);

-- one row per acknowledged write; (account_id, seq) deliberately NOT unique, so a duplicated write is detectable.
-- Keyed by (account_id, id): every shard's bigserial makes the same ids, and a moved account's rows keep theirs.
-- (The resource tables' text ids are random, globally unique; accounts.id is the account itself.)
create table if not exists write_log (
  id bigserial,
  account_id text not null,
  seq bigint not null,
  action text not null,
  at timestamptz not null default now(),
  primary key (account_id, id)
);
create index if not exists write_log_account_seq_idx on write_log (account_id, seq);
