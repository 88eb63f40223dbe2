/** The flavors by name: the name is what config `flavor` and the providers' and agent's inputs carry. */
import { Flavor } from "./flavor";
import { mariadb } from "./mariadb";

export const FLAVORS: Record<string, Flavor> = { mariadb };

export function flavorNamed(name: string): Flavor {
  const flavor = FLAVORS[name];
  if (!flavor) throw new Error(`flavor ${JSON.stringify(name)} is not one of ${Object.keys(FLAVORS).join(", ")}`);
  return flavor;
}
