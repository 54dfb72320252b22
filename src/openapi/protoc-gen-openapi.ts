/**
 * The Buf plugin that writes gen/openapi.json from the protos (buf.gen.yaml runs it with `strategy: all`, so one
 * request holds every file). Build-time only: the server never imports this folder, it serves the written file.
 */
import { readFileSync } from "node:fs";
import { create, createFileRegistry, type DescFile } from "@bufbuild/protobuf";
import {
  CodeGeneratorResponse_Feature,
  CodeGeneratorResponseSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import { getComments, type Plugin, runNodeJs } from "@bufbuild/protoplugin";
import type { CommentsOf } from "./json-schemas.js";
import { createOpenApiDocument } from "./openapi-document.js";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

/** Where a line of a comment starts something of its own: a paragraph or a list item. */
const blockStart = /^(\s*$|[-*] |\d+\. )/;

/**
 * A leading comment as Markdown, or undefined when there is none: the space after `//` dropped, and the lines the
 * proto files wrap at 120 columns joined again (blank lines and list items kept).
 */
const commentsOf: CommentsOf = (desc) => {
  const lines = (getComments(desc).leading ?? "").split("\n").map((line) => line.replace(/^ /, "").trimEnd());
  let text = "";
  for (const line of lines) {
    if (text === "") text = line;
    else if (blockStart.test(line) || text.endsWith("\n")) text += `\n${line}`;
    else text += ` ${line}`;
  }
  text = text.trim();
  return text === "" ? undefined : text;
};

/** Writes openapi.json from the liveops.v1 services, with google.rpc messages as error details. */
export const openApiPlugin: Plugin = {
  name: "protoc-gen-openapi",
  version: `v${version}`,
  run(request) {
    if (request.parameter !== "") throw new Error(`protoc-gen-openapi takes no options, got "${request.parameter}"`);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: request.protoFile }));
    const generated = [...request.fileToGenerate]
      .sort()
      .map((name) => registry.getFile(name))
      .filter((file): file is DescFile => file !== undefined);
    const document = createOpenApiDocument({
      registry,
      files: generated.filter((file) => file.proto.package.startsWith("liveops.")),
      errorDetailFiles: generated.filter((file) => file.proto.package === "google.rpc"),
      commentsOf,
      version,
    });
    return create(CodeGeneratorResponseSchema, {
      supportedFeatures: BigInt(CodeGeneratorResponse_Feature.PROTO3_OPTIONAL),
      file: [{ name: "openapi.json", content: `${JSON.stringify(document, null, 2)}\n` }],
    });
  },
};

runNodeJs(openApiPlugin);
