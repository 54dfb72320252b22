import {
  create,
  createRegistry,
  type DescFile,
  type DescService,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

type Request = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;
type ResponseInit = MessageInitShape<typeof v1.ServerReflectionResponseSchema>;

/** The files, each followed by everything it imports, each once. */
function closure(roots: readonly DescFile[]): DescFile[] {
  const files = new Map<string, DescFile>();
  const add = (file: DescFile) => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    for (const dependency of file.dependencies) add(dependency);
  };
  for (const file of roots) add(file);
  return [...files.values()];
}

/**
 * Answers reflection requests from the generated descriptors of `services`: the same answers for v1 and v1alpha,
 * which differ only in their package.
 */
function createAnswerer(services: readonly DescService[]) {
  const files = closure(services.map((s) => s.file));
  const registry = createRegistry(...files);
  const byName = new Map(files.map((f) => [f.proto.name, f]));
  const encoded = new Map(files.map((f) => [f.proto.name, toBinary(FileDescriptorProtoSchema, f.proto)]));
  const withDependencies = (file: DescFile): Uint8Array[] =>
    closure([file]).flatMap((f) => encoded.get(f.proto.name) ?? []);

  const fileOfSymbol = (symbol: string): DescFile | undefined => {
    const found = registry.get(symbol);
    if (found && "file" in found) return found.file;
    // A method, "package.Service.Method": its service's file.
    const service = registry.getService(symbol.slice(0, symbol.lastIndexOf(".")));
    return service?.methods.some((m) => `${service.typeName}.${m.name}` === symbol) ? service.file : undefined;
  };
  const notFound = (message: string): ResponseInit["messageResponse"] => ({
    case: "errorResponse",
    value: { errorCode: Code.NotFound, errorMessage: message },
  });

  return (req: Request): ResponseInit => {
    const request = req.messageRequest;
    let messageResponse: ResponseInit["messageResponse"];
    switch (request.case) {
      case "listServices":
        messageResponse = {
          case: "listServicesResponse",
          value: { service: services.map((s) => ({ name: s.typeName })) },
        };
        break;
      case "fileByFilename": {
        const file = byName.get(request.value);
        messageResponse = file
          ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file) } }
          : notFound(`file ${request.value} not found`);
        break;
      }
      case "fileContainingSymbol": {
        const file = fileOfSymbol(request.value);
        messageResponse = file
          ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file) } }
          : notFound(`symbol ${request.value} not found`);
        break;
      }
      case "allExtensionNumbersOfType":
        messageResponse = registry.getMessage(request.value)
          ? { case: "allExtensionNumbersResponse", value: { baseTypeName: request.value, extensionNumber: [] } }
          : notFound(`type ${request.value} not found`);
        break;
      case "fileContainingExtension":
        messageResponse = notFound("this server defines no extensions");
        break;
      default:
        messageResponse = {
          case: "errorResponse",
          value: { errorCode: Code.InvalidArgument, errorMessage: "empty request" },
        };
    }
    return { validHost: req.host, messageResponse };
  };
}

/** grpc.reflection.v1 and v1alpha ServerReflection over the descriptors of `services`. */
export function createReflectionServices(services: readonly DescService[]) {
  const answer = createAnswerer(services);
  return {
    v1: {
      async *serverReflectionInfo(requests: AsyncIterable<v1.ServerReflectionRequest>) {
        for await (const req of requests) {
          yield create(v1.ServerReflectionResponseSchema, { ...answer(req), originalRequest: req });
        }
      },
    },
    v1alpha: {
      async *serverReflectionInfo(requests: AsyncIterable<v1alpha.ServerReflectionRequest>) {
        for await (const req of requests) {
          const init = answer(req) as MessageInitShape<typeof v1alpha.ServerReflectionResponseSchema>;
          yield create(v1alpha.ServerReflectionResponseSchema, { ...init, originalRequest: req });
        }
      },
    },
  };
}
