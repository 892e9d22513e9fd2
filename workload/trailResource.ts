// trailResource owns naming what a CloudTrail event is about: its service (from eventSource) and the resource its requestParameters name (bucket/key, role, policy ARN, …).

/** The longest resource name kept (generic_resources.resource); longer names are cut. */
export const MAX_RESOURCE = 200;

/** eventSource → service: `s3.amazonaws.com` → `s3`; no eventSource → `ec2` (as the EC2 mapping assumes). */
export function serviceOf(eventSource: string): string {
  if (!eventSource) return 'ec2';
  return eventSource.replace(/\.amazonaws\.com$/, '') || 'ec2';
}

/**
 * requestParameters fields that name the resource a request acts on, most specific first. AttachRolePolicy has
 * roleName and policyArn: the role is what changes, so roleName comes before policyArn.
 */
const NAME_FIELDS = [
  'roleName', 'userName', 'groupName', 'instanceProfileName', 'policyArn', 'policyName',
  'secretId', 'functionName', 'dBInstanceIdentifier', 'dBSnapshotIdentifier', 'dBClusterIdentifier', 'dBSubnetGroupName',
  'logGroupName', 'trailName', 'keyId', 'detectorId', 'modelId', 'roleArn',
  'instanceId', 'volumeId', 'snapshotId', 'imageId', 'groupId', 'networkInterfaceId', 'vpcId', 'subnetId',
  'routeTableId', 'internetGatewayId', 'natGatewayId', 'allocationId', 'resourceId',
  'name', 'Name', 'resourceArn', 'arn',
];

/** Any other string field whose name says it names something (…Name, …Id, …Arn, …Identifier), but not tokens. */
const NAME_LIKE = /(Name|Id|Arn|ARN|Identifier)$/;
const NOT_NAMES = new Set(['clientToken', 'clientRequestToken', 'versionId', 'commandId', 'associationId', 'sessionId', 'nextToken', 'requestId', 'roleSessionName']);

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const cut = (s: string): string => (s.length > MAX_RESOURCE ? s.slice(0, MAX_RESOURCE) : s);

/**
 * The resource the request names, or undefined: S3's `bucketName` (+ `/key` for object calls), else the first
 * field of NAME_FIELDS present, else the first other name-like string field (in the record's key order).
 */
export function resourceOf(requestParameters: unknown): string | undefined {
  if (!requestParameters || typeof requestParameters !== 'object' || Array.isArray(requestParameters)) return undefined;
  const p = requestParameters as Record<string, unknown>;
  const bucket = str(p.bucketName) ?? str(p.bucket);
  if (bucket) {
    const key = str(p.key);
    return cut(key ? `${bucket}/${key}` : bucket);
  }
  for (const f of NAME_FIELDS) {
    const v = str(p[f]);
    if (v) return cut(v);
  }
  for (const [k, v] of Object.entries(p)) if (NAME_LIKE.test(k) && !NOT_NAMES.has(k) && str(v)) return cut(v as string);
  return undefined;
}
