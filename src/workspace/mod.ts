/**
 * Public API of the workspace layer (above train and knowledge, below the CLI): research
 * workspaces (`initWorkspace`), their templates per trainer, and the card fields a workspace
 * and this machine supply when a command is not given them.
 */
export { type InitFile, type InitOptions, type InitReport, initWorkspace } from "./init.ts";
export {
  DEFAULT_TEMPLATE,
  registerWorkspaceTemplate,
  WORKSPACE_GITIGNORE,
  type WorkspaceTemplate,
  workspaceTemplate,
  workspaceTemplates,
} from "./templates.ts";
export { type CardContext, cardContext, type CardContextOptions } from "./card_defaults.ts";
