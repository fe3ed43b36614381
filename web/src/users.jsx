// Users: a searchable, filterable list; create with a password and roles; edit with roles,
// the active switch and a password reset. Guardrail refusals appear under the field.
import {
  BooleanField, BooleanInput, BulkDeleteButton, Create, Datagrid, DateField, Edit, List,
  NullableBooleanInput, PasswordInput, ReferenceArrayField, ReferenceArrayInput, ReferenceInput,
  SearchInput, SelectArrayInput, SelectInput, SimpleForm, SingleFieldList, ChipField, TextField,
  TextInput, email, required,
} from 'react-admin';
import { FormToolbar, ListActions, useCanWrite } from './forms.jsx';

const filters = [
  <SearchInput key="q" source="q" alwaysOn placeholder="Search email or name" />,
  <ReferenceInput key="role" source="role_id" reference="Role" label="Role">
    <SelectInput optionText="name" label="Role" />
  </ReferenceInput>,
  <NullableBooleanInput key="active" source="active" label="Active" />,
];

export const UserList = () => {
  const canWrite = useCanWrite();
  return (
    <List filters={filters} actions={<ListActions />} sort={{ field: 'email', order: 'ASC' }} perPage={25}>
      <Datagrid rowClick={canWrite ? 'edit' : false} bulkActionButtons={canWrite ? <BulkDeleteButton mutationMode="pessimistic" /> : false}>
        <TextField source="email" />
        <TextField source="name" />
        <BooleanField source="active" />
        <ReferenceArrayField source="rolesIds" reference="Role" label="Roles" sortable={false}>
          <SingleFieldList linkType={false}>
            <ChipField source="name" size="small" />
          </SingleFieldList>
        </ReferenceArrayField>
        <DateField source="lastLoginAt" label="Last sign-in" showTime />
        <DateField source="createdAt" label="Created" />
      </Datagrid>
    </List>
  );
};

const RolesInput = () => (
  <ReferenceArrayInput source="rolesIds" reference="Role" perPage={100} sort={{ field: 'name', order: 'ASC' }}>
    <SelectArrayInput optionText="name" label="Roles" fullWidth />
  </ReferenceArrayInput>
);

export const UserCreate = () => (
  <Create redirect="list">
    <SimpleForm toolbar={<FormToolbar deletable={false} />} defaultValues={{ active: true, rolesIds: [] }}>
      <TextInput source="email" type="email" validate={[required(), email()]} fullWidth />
      <TextInput source="name" validate={required()} fullWidth />
      <PasswordInput source="password" validate={required()} autoComplete="new-password" fullWidth />
      <BooleanInput source="active" />
      <RolesInput />
    </SimpleForm>
  </Create>
);

export const UserEdit = () => (
  <Edit mutationMode="pessimistic" redirect="list">
    <SimpleForm toolbar={<FormToolbar />}>
      <TextInput source="id" disabled />
      <TextInput source="email" type="email" validate={[required(), email()]} fullWidth />
      <TextInput source="name" validate={required()} fullWidth />
      <BooleanInput source="active" helperText="Inactive users cannot sign in; their sessions end at once." />
      <RolesInput />
      <PasswordInput
        source="password"
        label="New password"
        helperText="Leave empty to keep the current password. Setting one signs the user out everywhere."
        autoComplete="new-password"
        fullWidth
      />
    </SimpleForm>
  </Edit>
);
