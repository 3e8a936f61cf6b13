/** `channel …`: the channel admin commands, through the publisher SDK (and `/sysadmin`). */
import { PushApiError, PushPublisher } from "../publisher/publisher.js";
import { type CommandContext, one, parseHistory, required } from "./_args.ts";
import { EXIT, UsageError } from "./_exit.ts";

/**
 * Runs `command` if it is a channel command (create, authorize, revoke, rotate, presence, ping,
 * delete, list) and resolves with its exit code; undefined for any other command.
 */
export async function channelCommand(
  command: string | undefined,
  rest: readonly string[],
  { values, env, httpUrl, token, publisher, out, print }: CommandContext,
): Promise<number | undefined> {
  switch (command) {
    case "create": {
      const channel = one(rest, "create NAME");
      const createToken = env.PUSHSERVER_CREATE_TOKEN;
      const creator = createToken
        ? new PushPublisher({
          baseUrl: httpUrl,
          headers: { authorization: `Bearer ${createToken}` },
        })
        : publisher;
      const created = await creator.createChannel(channel, {
        ...(values.private ? { private: true } : {}),
        ...(values.presence ? { presence: true } : {}),
        ...(values.history === undefined ? {} : { history: parseHistory(values.history) }),
      });
      print(created.channelToken, created);
      return EXIT.ok;
    }
    case "authorize":
    case "revoke": {
      if (rest.length !== 2) throw new UsageError(`expected: ${command} NAME UUID --token T`);
      const [channel, uuid] = rest as [string, string];
      if (command === "authorize") {
        await publisher.authorize(channel, required(token), uuid);
        print("Authorized", { channel, uuid, authorized: true });
      } else {
        await publisher.revoke(channel, required(token), uuid);
        print("Revoked", { channel, uuid, revoked: true });
      }
      return EXIT.ok;
    }
    case "rotate": {
      const channel = one(rest, "rotate NAME --token T");
      const rotated = await publisher.rotateToken(channel, required(token));
      print(rotated.channelToken, rotated);
      return EXIT.ok;
    }
    // --- Presence (v1.2) ---
    case "presence": {
      const channel = one(rest, "presence NAME --token T");
      const result = await publisher.presence(channel, required(token));
      const lines = [
        `${result.count}${result.truncated ? " (list truncated)" : ""}`,
        ...result.members.map((m) => `${m.uuid} ${JSON.stringify(m.info)}`),
      ];
      print(lines.join("\n"), result);
      return EXIT.ok;
    }
    // --- end presence ---
    case "ping": {
      const channel = one(rest, "ping NAME");
      await publisher.ping(channel, token ?? null);
      print("OK", { channel, ok: true });
      return EXIT.ok;
    }
    case "delete": {
      const channel = one(rest, "delete NAME --token T");
      await publisher.deleteChannel(channel, required(token));
      print("Deleted", { channel, deleted: true });
      return EXIT.ok;
    }
    case "list": {
      if (rest.length !== 0) throw new UsageError("expected: channel list (no arguments)");
      const adminToken = env.ADMIN_TOKEN;
      if (adminToken === undefined || adminToken === "") {
        throw new UsageError("channel list needs $ADMIN_TOKEN (the server's ADMIN_TOKEN)");
      }
      const listing = await listChannels(httpUrl, adminToken);
      if (values.json) out(`${JSON.stringify(listing)}\n`);
      else for (const name of listing.channels) out(`${name}\n`);
      return EXIT.ok;
    }
    default:
      return undefined;
  }
}

/** `GET /sysadmin` with the admin token: the channel names, sorted, and the totals. */
export async function listChannels(
  httpUrl: string,
  adminToken: string,
): Promise<{ channels: string[]; channelsAmount: number; clientsAmount: number }> {
  const response = await fetch(new URL("/sysadmin", httpUrl), {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  const body = await response.json().catch(() => null) as {
    message?: string;
    data?: { channels?: string[]; channelsAmount?: number; clientsAmount?: number } & {
      errorDetails?: string | null;
    };
  } | null;
  if (!response.ok) {
    throw new PushApiError(
      response.status,
      body?.message ?? response.statusText,
      body?.data?.errorDetails ?? null,
    );
  }
  const data = body?.data ?? {};
  return {
    channels: [...(data.channels ?? [])].sort(),
    channelsAmount: data.channelsAmount ?? 0,
    clientsAmount: data.clientsAmount ?? 0,
  };
}
