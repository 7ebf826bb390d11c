// Meter filter builder: edits a meter filter — {"conjunction": "and"|"or", "clauses": [...]} whose
// clauses are all conditions {key, operator, value} or all nested groups, at most 3 levels deep —
// as a tree of groups and conditions, and writes it as JSON into the form's filter textarea.
//
// Progressive enhancement: without JavaScript the textarea is the editor. With it, the textarea is
// hidden behind an "Edit as JSON" switch. The server validates the result either way (the same
// service as the API), so this only keeps the shape easy to get right:
// - adding a condition to a group of groups adds it in a new group of its own;
// - adding a group to a group of conditions first moves those conditions into a group (same
//   conjunction, same meaning), so a clause list never mixes the two kinds;
// - no "Add group" at the deepest level, no adding past the clause limit.
(function () {
  "use strict";

  var LABELS = {
    equals: "equals",
    not_equals: "does not equal",
    greater_than: "greater than",
    greater_than_or_equals: "greater than or equal to",
    less_than: "less than",
    less_than_or_equals: "less than or equal to",
    contains: "contains",
    does_not_contain: "does not contain"
  };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), attrs[name]);
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function isGroup(clause) {
    return clause && typeof clause === "object" && ("clauses" in clause || "conjunction" in clause);
  }

  function valueType(value) {
    if (typeof value === "boolean") return "boolean";
    if (typeof value === "number") return "number";
    return "string";
  }

  // The editable tree: groups {conjunction, clauses}, conditions {key, operator, type, text}.
  function fromJson(data) {
    if (isGroup(data)) {
      return {
        conjunction: data.conjunction === "or" ? "or" : "and",
        clauses: (Array.isArray(data.clauses) ? data.clauses : []).map(fromJson)
      };
    }
    data = data || {};
    var type = valueType(data.value);
    return {
      key: data.key == null ? "" : String(data.key),
      operator: data.operator || "equals",
      type: type,
      text: data.value == null ? "" : String(data.value)
    };
  }

  function toJson(node) {
    if ("clauses" in node) {
      return { conjunction: node.conjunction, clauses: node.clauses.map(toJson) };
    }
    var value = node.text;
    if (node.type === "number") {
      // Not a number: send null, and the server names the condition in its error.
      value = node.text.trim() !== "" && isFinite(Number(node.text)) ? Number(node.text) : null;
    } else if (node.type === "boolean") {
      value = node.text === "true";
    }
    return { key: node.key, operator: node.operator, value: value };
  }

  function newCondition() {
    return { key: "", operator: "equals", type: "string", text: "" };
  }

  function FilterBuilder(root) {
    this.root = root;
    this.textarea = document.getElementById(root.getAttribute("data-target"));
    var config = document.getElementById(root.getAttribute("data-config"));
    this.config = config ? JSON.parse(config.textContent) : {};
    this.operators = this.config.operators || Object.keys(LABELS);
    this.maxDepth = this.config.maxDepth || 3;
    this.maxClauses = this.config.maxClauses || 10;
    this.tree = null;
    this.jsonMode = false;
    this.textWrapper = this.textarea.closest("[data-filter-text]") || this.textarea;
    this.tree_el = el("div", { "class": "filter-tree", "data-filter-tree": "" });
    this.notice = el("div", { "class": "alert alert-warning py-2 small d-none", role: "status" });
    this.toggle = el("button", {
      type: "button",
      "class": "btn btn-sm btn-outline-secondary",
      "data-filter-json-toggle": "",
      onclick: this.switchMode.bind(this)
    });
    root.appendChild(this.notice);
    root.appendChild(this.tree_el);
    root.appendChild(el("div", { "class": "mt-2" }, [this.toggle]));
    var form = this.textarea.form;
    if (form) form.addEventListener("submit", this.checkNumbers.bind(this));
    if (!this.load()) {
      this.jsonMode = true;
      this.showNotice("This filter could not be read as JSON; correct it in the text box.");
    }
    this.render();
  }

  FilterBuilder.prototype.load = function () {
    var text = this.textarea.value.trim();
    if (!text || text === "null") { this.tree = null; return true; }
    try {
      var data = JSON.parse(text);
      if (!isGroup(data)) return false;
      this.tree = fromJson(data);
      return true;
    } catch (e) {
      return false;
    }
  };

  // A number condition whose value is not a number stops the form here, naming the condition
  // (without this check it would reach the server as null, which rejects it too).
  FilterBuilder.prototype.checkNumbers = function (event) {
    if (this.jsonMode || !this.tree) return;
    var bad = [];
    (function walk(node, label) {
      node.clauses.forEach(function (clause, index) {
        var childLabel = label + "." + (index + 1);
        if (isGroupNode(clause)) walk(clause, childLabel);
        else if (clause.type === "number" && (clause.text.trim() === "" || !isFinite(Number(clause.text)))) bad.push(childLabel);
      });
    })(this.tree, "1");
    if (!bad.length) return;
    event.preventDefault();
    this.showNotice("Condition " + bad.join(", ") + ": the value must be a number.");
    var input = this.root.querySelector("[data-condition='" + bad[0] + "'] [data-field=value]");
    if (input) { input.classList.add("is-invalid"); input.focus(); }
  };

  FilterBuilder.prototype.showNotice = function (message) {
    this.notice.textContent = message || "";
    this.notice.classList.toggle("d-none", !message);
  };

  FilterBuilder.prototype.switchMode = function () {
    if (this.jsonMode) {
      if (!this.load()) {
        this.showNotice("The text is not a filter in JSON; correct it, or clear it for no filter.");
        return;
      }
      this.showNotice("");
      this.jsonMode = false;
    } else {
      this.save();
      this.jsonMode = true;
    }
    this.render();
  };

  FilterBuilder.prototype.save = function () {
    this.textarea.value = this.tree ? JSON.stringify(toJson(this.tree), null, 2) : "";
  };

  FilterBuilder.prototype.changed = function (rerender) {
    this.save();
    if (rerender) this.render();
  };

  FilterBuilder.prototype.render = function () {
    this.textWrapper.classList.toggle("d-none", !this.jsonMode);
    this.tree_el.classList.toggle("d-none", this.jsonMode);
    this.toggle.innerHTML = this.jsonMode
      ? '<i class="bi bi-diagram-3"></i> Use the builder'
      : '<i class="bi bi-braces"></i> Edit as JSON';
    this.tree_el.textContent = "";
    if (this.jsonMode) return;
    if (!this.tree) {
      var self = this;
      this.tree_el.appendChild(el("div", { "class": "filter-empty text-body-secondary small mb-2",
        text: "No filter: the meter counts every event with its event name." }));
      this.tree_el.appendChild(el("button", {
        type: "button", "class": "btn btn-sm btn-outline-primary", "data-action": "add-condition",
        onclick: function () {
          self.tree = { conjunction: "and", clauses: [newCondition()] };
          self.changed(true);
          self.focusLast();
        }
      }, [el("i", { "class": "bi bi-plus-lg" }), document.createTextNode(" Add condition")]));
      return;
    }
    this.tree_el.appendChild(this.renderGroup(this.tree, null, 1, "1"));
  };

  FilterBuilder.prototype.focusLast = function () {
    var inputs = this.tree_el.querySelectorAll("[data-field=key]");
    if (inputs.length) inputs[inputs.length - 1].focus();
  };

  FilterBuilder.prototype.renderGroup = function (group, parent, depth, label) {
    var self = this;
    var holdsGroups = group.clauses.some(isGroupNode);
    var full = group.clauses.length >= this.maxClauses;
    var conjunction = el("select", {
      "class": "form-select form-select-sm w-auto",
      "aria-label": "Conjunction of group " + label,
      "data-field": "conjunction",
      onchange: function (event) { group.conjunction = event.target.value; self.changed(false); }
    }, [
      el("option", { value: "and", text: "Match all (and)" }),
      el("option", { value: "or", text: "Match any (or)" })
    ]);
    conjunction.value = group.conjunction;
    var header = el("div", { "class": "d-flex flex-wrap align-items-center gap-2 mb-2" }, [
      el("span", { "class": "small fw-semibold text-body-secondary", text: depth === 1 ? "Events where" : "Group " + label }),
      conjunction
    ]);
    if (parent) {
      header.appendChild(el("button", {
        type: "button", "class": "btn btn-sm btn-link text-danger ms-auto p-0", "data-action": "remove-group",
        "aria-label": "Remove group " + label,
        onclick: function () { self.remove(parent, group); }
      }, [el("i", { "class": "bi bi-x-lg" }), document.createTextNode(" Remove group")]));
    }
    var list = el("div", { "class": "d-flex flex-column gap-2" });
    group.clauses.forEach(function (clause, index) {
      var childLabel = label + "." + (index + 1);
      list.appendChild(isGroupNode(clause)
        ? self.renderGroup(clause, group, depth + 1, childLabel)
        : self.renderCondition(clause, group, childLabel));
    });
    var actions = el("div", { "class": "d-flex flex-wrap gap-2 mt-2" });
    var addCondition = el("button", {
      type: "button", "class": "btn btn-sm btn-outline-primary", "data-action": "add-condition",
      "aria-label": "Add condition to group " + label,
      onclick: function () {
        if (holdsGroups) group.clauses.push({ conjunction: "and", clauses: [newCondition()] });
        else group.clauses.push(newCondition());
        self.changed(true);
        self.focusLast();
      }
    }, [el("i", { "class": "bi bi-plus-lg" }), document.createTextNode(" Add condition")]);
    if (full || (holdsGroups && depth >= this.maxDepth)) addCondition.disabled = true;
    actions.appendChild(addCondition);
    if (depth < this.maxDepth) {
      var addGroup = el("button", {
        type: "button", "class": "btn btn-sm btn-outline-secondary", "data-action": "add-group",
        "aria-label": "Add group to group " + label,
        onclick: function () {
          var conditions = group.clauses.filter(function (c) { return !isGroupNode(c); });
          if (conditions.length) {
            var groups = group.clauses.filter(isGroupNode);
            group.clauses = [{ conjunction: group.conjunction, clauses: conditions }].concat(groups);
          }
          group.clauses.push({ conjunction: "or", clauses: [newCondition()] });
          self.changed(true);
          self.focusLast();
        }
      }, [el("i", { "class": "bi bi-diagram-3" }), document.createTextNode(" Add group")]);
      if (full) addGroup.disabled = true;
      actions.appendChild(addGroup);
    }
    return el("fieldset", {
      "class": "filter-group border rounded p-2 p-sm-3" + (depth > 1 ? " bg-body-tertiary" : ""),
      "data-group": label, "data-depth": String(depth)
    }, [el("legend", { "class": "visually-hidden", text: "Group " + label }), header, list, actions]);
  };

  function isGroupNode(clause) { return clause && "clauses" in clause; }

  FilterBuilder.prototype.renderCondition = function (condition, group, label) {
    var self = this;
    var key = el("input", {
      type: "text", "class": "form-control form-control-sm", placeholder: "metadata key",
      "aria-label": "Key of condition " + label, "data-field": "key", maxlength: "100",
      oninput: function (event) { condition.key = event.target.value; self.changed(false); }
    });
    key.value = condition.key;
    var operator = el("select", {
      "class": "form-select form-select-sm", "aria-label": "Operator of condition " + label, "data-field": "operator",
      onchange: function (event) {
        condition.operator = event.target.value;
        if (condition.operator === "contains" || condition.operator === "does_not_contain") condition.type = "string";
        self.changed(true);
      }
    }, this.operators.map(function (name) { return el("option", { value: name, text: LABELS[name] || name }); }));
    operator.value = condition.operator;
    var type = el("select", {
      "class": "form-select form-select-sm", "aria-label": "Value type of condition " + label, "data-field": "type",
      onchange: function (event) {
        condition.type = event.target.value;
        if (condition.type === "boolean" && condition.text !== "false") condition.text = "true";
        self.changed(true);
      }
    }, [
      el("option", { value: "string", text: "text" }),
      el("option", { value: "number", text: "number" }),
      el("option", { value: "boolean", text: "true/false" })
    ]);
    type.value = condition.type;
    var value;
    if (condition.type === "boolean") {
      value = el("select", {
        "class": "form-select form-select-sm", "aria-label": "Value of condition " + label, "data-field": "value",
        onchange: function (event) { condition.text = event.target.value; self.changed(false); }
      }, [el("option", { value: "true", text: "true" }), el("option", { value: "false", text: "false" })]);
      value.value = condition.text === "false" ? "false" : "true";
    } else {
      value = el("input", {
        type: "text", "class": "form-control form-control-sm",
        inputmode: condition.type === "number" ? "decimal" : "text",
        placeholder: condition.type === "number" ? "e.g. 100" : "value",
        "aria-label": "Value of condition " + label, "data-field": "value",
        oninput: function (event) {
          condition.text = event.target.value;
          event.target.classList.toggle("is-invalid",
            condition.type === "number" && condition.text.trim() !== "" && !isFinite(Number(condition.text)));
          self.changed(false);
        }
      });
      value.value = condition.text;
    }
    var remove = el("button", {
      type: "button", "class": "btn btn-sm btn-outline-danger", "data-action": "remove-condition",
      "aria-label": "Remove condition " + label, title: "Remove condition",
      onclick: function () { self.remove(group, condition); }
    }, [el("i", { "class": "bi bi-trash" })]);
    return el("div", { "class": "row g-2 align-items-center filter-condition", "data-condition": label }, [
      el("div", { "class": "col-12 col-md-3" }, [key]),
      el("div", { "class": "col-6 col-md-3" }, [operator]),
      el("div", { "class": "col-6 col-md-2" }, [type]),
      el("div", { "class": "col-10 col-md-3" }, [value]),
      el("div", { "class": "col-2 col-md-1 text-end" }, [remove])
    ]);
  };

  // Remove a clause; a group left empty goes too, and an empty top level means "no filter".
  FilterBuilder.prototype.remove = function (group, clause) {
    var self = this;
    group.clauses.splice(group.clauses.indexOf(clause), 1);
    (function prune(node, parent) {
      node.clauses.slice().forEach(function (child) { if (isGroupNode(child)) prune(child, node); });
      if (!node.clauses.length && parent) parent.clauses.splice(parent.clauses.indexOf(node), 1);
    })(this.tree, null);
    if (!this.tree.clauses.length) this.tree = null;
    self.changed(true);
  };

  function start() {
    document.querySelectorAll("[data-filter-builder]").forEach(function (root) {
      if (!root.dataset.ready) {
        root.dataset.ready = "1";
        root.filterBuilder = new FilterBuilder(root);
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
