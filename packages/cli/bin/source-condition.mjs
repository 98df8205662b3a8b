// A module resolve hook (registered by covenant.mjs in a checkout of the Covenant repository): adds the
// `@covenant/source` condition to every resolution, so Covenant's packages resolve to their src/.
export function resolve(specifier, context, nextResolve) {
  return nextResolve(specifier, { ...context, conditions: [...context.conditions, '@covenant/source'] });
}
